"""``celeriac inspect COMMAND``: ask the workers what they are doing."""

from __future__ import annotations

import click

from celeriac.cli.remote import InspectCLI, remote_options, run_remote

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
    run_remote(ctx, "inspect", command, timeout=timeout, destination=destination, as_json=as_json)
