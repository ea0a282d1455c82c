"""``celeriac call``: send a task by name and print its id."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import click

from celeriac.cli.base import CLIContext, GroupedCommand, GroupedOption
from celeriac.exceptions import CeleriacError

__all__ = ["call"]

_EPILOG_EXAMPLES = """\b
Examples
--------

\b
$ celeriac -A proj call tasks.add --args='[2, 2]'
$ celeriac -A proj call tasks.add -a '[2, 2]' --countdown=10
$ celeriac -A proj call tasks.send -k '{"to": "a@example.com"}' --queue=mail
"""


def _json_array(ctx: click.Context, param: click.Parameter, value: str) -> list[Any]:
    decoded = _json(ctx, param, value)
    if not isinstance(decoded, list):
        raise click.BadParameter(f"{value!r} is not a JSON array", ctx, param)
    return decoded


def _json_object(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, Any]:
    decoded = _json(ctx, param, value)
    if not isinstance(decoded, dict):
        raise click.BadParameter(f"{value!r} is not a JSON object", ctx, param)
    return decoded


def _json(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not valid JSON: {exc}", ctx, param) from exc


def _iso8601(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    """Parse an ISO-8601 date and time; without an offset it is in the app's time zone."""
    if value is None:
        return None
    # fromisoformat() accepts a trailing "Z" only from Python 3.11 on.
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date and time", ctx, param) from exc


def _iso8601_or_float(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> float | dt.datetime | None:
    """Parse seconds from now, or an ISO-8601 date and time."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return _iso8601(ctx, param, value)
    if seconds is not None and not math.isfinite(seconds):
        raise click.BadParameter(f"{value!r} is not a number of seconds", ctx, param)
    return seconds


@click.command(cls=GroupedCommand, help=f"Call a task by name.\n\n{_EPILOG_EXAMPLES}")
@click.argument("name")
@click.option(
    "-a",
    "--args",
    cls=GroupedOption,
    help_group="Calling Options",
    default="[]",
    metavar="JSON ARRAY",
    callback=_json_array,
    help="Positional arguments.",
)
@click.option(
    "-k",
    "--kwargs",
    cls=GroupedOption,
    help_group="Calling Options",
    default="{}",
    metavar="JSON OBJECT",
    callback=_json_object,
    help="Keyword arguments.",
)
@click.option(
    "--eta",
    cls=GroupedOption,
    help_group="Calling Options",
    metavar="ISO-8601",
    callback=_iso8601,
    help="scheduled time.",
)
@click.option(
    "--countdown",
    cls=GroupedOption,
    help_group="Calling Options",
    type=float,
    help="eta in seconds from now.",
)
@click.option(
    "--expires",
    cls=GroupedOption,
    help_group="Calling Options",
    metavar="ISO-8601 OR FLOAT",
    callback=_iso8601_or_float,
    help="expiry time.",
)
@click.option(
    "--serializer",
    cls=GroupedOption,
    help_group="Calling Options",
    help="task serializer (default: the task_serializer setting, json).",
)
@click.option("--queue", cls=GroupedOption, help_group="Routing Options", help="custom queue name.")
@click.option(
    "--exchange", cls=GroupedOption, help_group="Routing Options", help="custom exchange name."
)
@click.option(
    "--routing-key", cls=GroupedOption, help_group="Routing Options", help="custom routing key."
)
@click.pass_obj
def call(
    obj: CLIContext,
    *,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    eta: dt.datetime | None,
    countdown: float | None,
    expires: float | dt.datetime | None,
    serializer: str | None,
    queue: str | None,
    exchange: str | None,
    routing_key: str | None,
) -> None:
    """Call a task by name."""
    try:
        result = obj.app.send_task(
            name,
            args=args,
            kwargs=kwargs,
            countdown=countdown,
            eta=eta,
            expires=expires,
            serializer=serializer,
            queue=queue,
            exchange=exchange,
            routing_key=routing_key,
        )
    except CeleriacError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    obj.echo(result.id)
