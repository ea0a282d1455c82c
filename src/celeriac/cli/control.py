"""``celeriac control COMMAND``: change what the workers do."""

from __future__ import annotations

import click

from celeriac.cli.remote import ControlCLI, remote_options, run_remote

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
    run_remote(ctx, "control", command, timeout=timeout, destination=destination, as_json=as_json)
