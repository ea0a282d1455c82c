"""``celeriac inspect COMMAND``: ask the workers what they are doing."""

from __future__ import annotations

import json

import click

from celeriac.cli.base import CLIContext
from celeriac.cli.remote import (
    InspectCLI,
    compile_arguments,
    no_reply,
    remote_options,
    say_online,
    say_reply,
    verify_command,
)
from celeriac.exceptions import CeleriacError

__all__ = ["inspect"]


@click.command(
    cls=InspectCLI,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@click.argument("command")
@remote_options
@click.pass_context
def inspect(
    ctx: click.Context, command: str, timeout: float, destination: list[str], as_json: bool
) -> None:
    """Inspect the workers by sending them the COMMAND inspect command."""
    obj: CLIContext = ctx.obj
    spec = verify_command("inspect", command)
    arguments = compile_arguments(spec, list(ctx.args))
    try:
        replies = obj.app.control.broadcast(
            command,
            arguments=arguments,
            destination=destination or None,
            reply=True,
            timeout=timeout,
        )
    except CeleriacError as exc:
        raise click.ClickException(f"inspect {command}: {exc}") from exc
    if not replies:
        raise no_reply()
    if as_json:
        merged = {node: value for reply in replies for node, value in reply.items()}
        obj.echo(json.dumps(merged, default=str))
        return
    for reply in replies:
        say_reply(obj, reply, show_body=True)
    say_online(obj, len(replies))
