"""``celeriac control COMMAND``: change what the workers do."""

from __future__ import annotations

import json

import click

from celeriac.cli.base import CLIContext
from celeriac.cli.remote import (
    ControlCLI,
    compile_arguments,
    no_reply,
    remote_options,
    say_reply,
    verify_command,
)
from celeriac.exceptions import CeleriacError

__all__ = ["control"]


@click.command(
    cls=ControlCLI,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@click.argument("command")
@remote_options
@click.pass_context
def control(
    ctx: click.Context, command: str, timeout: float, destination: list[str], as_json: bool
) -> None:
    """Send the COMMAND control command to the workers."""
    obj: CLIContext = ctx.obj
    spec = verify_command("control", command)
    arguments = compile_arguments(spec, list(ctx.args))
    try:
        if command == "revoke":  # durable, like app.control.revoke
            obj.app.control.mailbox.store_revoked(arguments.get("task_id") or [])
        replies = obj.app.control.broadcast(
            command,
            arguments=arguments,
            destination=destination or None,
            reply=True,
            timeout=timeout,
        )
    except CeleriacError as exc:
        raise click.ClickException(f"control {command}: {exc}") from exc
    if not replies:
        raise no_reply()
    if as_json:
        merged = {node: value for reply in replies for node, value in reply.items()}
        obj.echo(json.dumps(merged, default=str))
        return
    for reply in replies:
        say_reply(obj, reply, show_body=True)
