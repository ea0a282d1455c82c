"""The ``celeriac`` command group and its global options."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

import click

from celeriac import __version__
from celeriac.cli.base import CLIContext

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["main", "run_with_app"]

#: Built-in commands: name -> "module:attribute".
COMMANDS = {
    "worker": "celeriac.cli.worker:worker",
    "beat": "celeriac.cli.beat:beat",
    "call": "celeriac.cli.call:call",
    "result": "celeriac.cli.result:result",
    "purge": "celeriac.cli.purge:purge",
    "dead-letters": "celeriac.cli.dead_letters:dead_letters",
    "demo": "celeriac.cli.demo:demo",
    "inspect": "celeriac.cli.inspect:inspect",
    "control": "celeriac.cli.control:control",
    "status": "celeriac.cli.status:status",
    "revoke": "celeriac.cli.revoke:revoke",
    "events": "celeriac.cli.events:events",
    "dashboard": "celeriac.cli.dashboard:dashboard",
    "multi": "celeriac.cli.multi:multi",
}


class CeleriacGroup(click.Group):
    """Loads each command's module only when that command runs (fast ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = [entry.name for entry in entry_points(group="celeriac.commands")]
        return sorted({*COMMANDS, *extra})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        path = COMMANDS.get(cmd_name)
        if path is None:
            for entry in entry_points(group="celeriac.commands"):
                if entry.name == cmd_name:
                    path = entry.value
                    break
        if path is None:
            return None
        module_name, _, attr = path.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


@click.group(cls=CeleriacGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-A",
    "--app",
    "app_name",
    envvar=["CELERIAC_APP", "CELERY_APP"],
    help="The app: module, package or module:attribute.",
)
@click.option("-b", "--broker", help="Broker URL (overrides the app's setting).")
@click.option("--result-backend", help="Result backend URL (overrides the app's setting).")
@click.option("--config", help="Module to load settings from.")
@click.option("--workdir", type=click.Path(file_okay=False), help="Change to this directory first.")
@click.option("-C", "--no-color", is_flag=True, help="Print without colors.")
@click.option("-q", "--quiet", is_flag=True, help="Print less.")
@click.version_option(__version__, "--version", message="%(version)s")
@click.pass_context
def main(
    ctx: click.Context,
    app_name: str | None,
    broker: str | None,
    result_backend: str | None,
    config: str | None,
    workdir: str | None,
    no_color: bool,
    quiet: bool,
) -> None:
    """celeriac: a distributed task queue that speaks Celery."""
    preset = ctx.obj if isinstance(ctx.obj, CLIContext) else None
    ctx.obj = CLIContext(
        app_name=app_name,
        broker=broker,
        result_backend=result_backend,
        config=config,
        workdir=workdir,
        quiet=quiet,
        no_color=no_color,
        preset_app=preset.app if preset is not None and app_name is None else None,
    )


def run_with_app(app: Celery, argv: list[str] | None = None) -> None:
    """Run the command line with ``app`` already chosen (``app.start()``)."""
    args = sys.argv[1:] if argv is None else argv
    main.main(args=args, obj=CLIContext(preset_app=app), prog_name="celeriac")
