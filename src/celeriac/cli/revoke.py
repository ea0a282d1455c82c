"""``celeriac revoke ID...``: a shortcut for ``celeriac control revoke``."""

from __future__ import annotations

import click

from celeriac.cli.base import CLIContext
from celeriac.exceptions import CeleriacError

__all__ = ["revoke"]


@click.command()
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--terminate", is_flag=True, help="Also stop the task if it is running.")
@click.option(
    "--signal",
    "signal_name",
    default="SIGTERM",
    show_default=True,
    help="Signal sent with --terminate.",
)
@click.pass_obj
def revoke(obj: CLIContext, task_ids: tuple[str, ...], terminate: bool, signal_name: str) -> None:
    """Revoke tasks: no worker will run them (remembered for three hours)."""
    try:
        obj.app.control.revoke(list(task_ids), terminate=terminate, signal=signal_name)
    except CeleriacError as exc:
        raise click.ClickException(f"revoke: {exc}") from exc
    obj.echo(f"Revoked {len(task_ids)} {'task' if len(task_ids) == 1 else 'tasks'}.")
