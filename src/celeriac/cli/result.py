"""``celeriac result``: print a task's return value, state or traceback."""

from __future__ import annotations

from typing import Any

import click

from celeriac import states
from celeriac.cli.base import CLIContext, GroupedCommand, GroupedOption
from celeriac.exceptions import CeleriacError, NotRegistered, TimeoutError
from celeriac.result import AsyncResult

__all__ = ["result"]

_HELP = """Print the return value for a given task id.

A task that failed prints its exception (e.g. "TypeError: ...") and exits with
status 1. Unlike Celery, which waits until the task is ready, a task that is not
ready yet prints its state (PENDING, STARTED, RETRY) at once and exits with status
0; give --wait to wait for it, or --timeout to wait at most that many seconds.
An unknown task id reads as PENDING.

\b
Examples
--------

\b
$ celeriac -A proj result 8f511516-e2f5-4da4-9d2f-0fb83a86e500
$ celeriac -A proj result 8f511516-e2f5-4da4-9d2f-0fb83a86e500 -t tasks.add
$ celeriac -A proj result 8f511516-e2f5-4da4-9d2f-0fb83a86e500 --traceback
$ celeriac -A proj result 8f511516-e2f5-4da4-9d2f-0fb83a86e500 --wait --timeout 30
"""


def _printable(value: Any) -> str:
    return "" if value is None else str(value)


def _wait(handle: AsyncResult[Any], timeout: float | None) -> None:
    """Block until the task is ready; a task's failure is not raised here."""
    try:
        handle.get(timeout=timeout, propagate=False)
    except TimeoutError as exc:
        raise click.ClickException(
            f"task {handle.id} is still {handle.state} after {timeout:g} seconds"
        ) from exc


@click.command(cls=GroupedCommand, help=_HELP)
@click.argument("task_id")
@click.option(
    "-t",
    "--task",
    cls=GroupedOption,
    help_group="Result Options",
    help="Name of task (if custom backend).",
)
@click.option(
    "--traceback",
    cls=GroupedOption,
    help_group="Result Options",
    is_flag=True,
    help="Show traceback instead.",
)
@click.option(
    "--wait",
    cls=GroupedOption,
    help_group="Result Options",
    is_flag=True,
    help="Wait until the task is ready instead of printing its state.",
)
@click.option(
    "--timeout",
    cls=GroupedOption,
    help_group="Result Options",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Wait at most this many seconds (implies --wait).",
)
@click.pass_obj
def result(
    obj: CLIContext,
    *,
    task_id: str,
    task: str | None,
    traceback: bool,
    wait: bool,
    timeout: float | None,
) -> None:
    """Print the return value for a given task id."""
    app = obj.app
    try:
        handle = app.tasks[task].AsyncResult(task_id) if task else app.AsyncResult(task_id)
    except NotRegistered as exc:
        raise click.ClickException(f"NotRegistered: {exc}") from exc
    try:
        if wait or timeout is not None:
            _wait(handle, timeout)
        state = handle.state
        if traceback:
            obj.echo(_printable(handle.traceback))
            return
    except CeleriacError as exc:  # no backend configured, backend unreachable ...
        raise click.ClickException(str(exc)) from exc
    if state not in states.READY_STATES:
        obj.echo(state)
        return
    try:
        value = handle.get(disable_sync_subtasks=False)
    except Exception as exc:  # the task's own exception, re-raised by get()
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    obj.echo(_printable(value))
