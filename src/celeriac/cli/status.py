"""``celeriac status``: which workers are online."""

from __future__ import annotations

import json

import click

from celeriac.cli.base import CLIContext, GroupedCommand
from celeriac.cli.remote import no_reply, remote_options, say_online, say_reply
from celeriac.exceptions import CeleriacError

__all__ = ["status"]


@click.command(cls=GroupedCommand)
@remote_options
@click.pass_obj
def status(obj: CLIContext, timeout: float, destination: list[str], as_json: bool) -> None:
    """Show list of workers that are online."""
    try:
        replies = obj.app.control.ping(destination=destination or None, timeout=timeout)
    except CeleriacError as exc:
        raise click.ClickException(f"status: {exc}") from exc
    if not replies:
        raise no_reply()
    if as_json:
        merged = {node: value for reply in replies for node, value in reply.items()}
        obj.echo(json.dumps(merged))
    else:
        for reply in replies:
            say_reply(obj, reply, show_body=False)
    say_online(obj, len(replies))
