"""``celeriac demo``: run the guide's calls against a real worker on the embedded broker."""

from __future__ import annotations

import click

from celeriac.cli.base import CLIContext
from celeriac.exceptions import CeleriacError

__all__ = ["demo"]


@click.command()
@click.pass_obj
def demo(obj: CLIContext) -> None:
    """Start a worker, make the "Calling tasks" calls, print the results, stop.

    Run it from the directory above the project: ``cd examples && celeriac -A proj demo``.
    """
    from celeriac._internal.demo import run_demo

    if not obj.app_name:
        raise click.UsageError("name the project with -A (e.g. celeriac -A proj demo)")
    global_args: list[str] = []
    if obj.broker:
        global_args += ["-b", obj.broker]
    if obj.result_backend:
        global_args += ["--result-backend", obj.result_backend]
    try:
        code = run_demo(obj.app, obj.app_name, click.echo, global_args)
    except (CeleriacError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if code != 0:
        raise click.ClickException(f"the worker exited with code {code}")
