"""``celeriac events --dump``: print the cluster's events as they happen."""

from __future__ import annotations

import click

from celeriac.cli.base import CLIContext
from celeriac.exceptions import CeleriacError

__all__ = ["events"]


@click.command()
@click.option("-d", "--dump", is_flag=True, help="Dump events to stdout.")
@click.pass_obj
def events(obj: CLIContext, dump: bool) -> None:
    """Event-stream utilities: ``--dump`` prints every event as one line."""
    from celeriac.events.dumper import Dumper
    from celeriac.events.receiver import EventReceiver

    if not dump:
        raise click.UsageError("this version of celeriac shows events with --dump")
    dumper = Dumper(click.echo)
    obj.echo("-> evdump: starting capture...")
    try:
        receiver = EventReceiver(obj.app, handlers={"*": dumper.on_event})
        receiver.capture()
    except KeyboardInterrupt:
        return
    except CeleriacError as exc:
        raise click.ClickException(f"events: {exc}") from exc
