"""``celeriac events``: the terminal monitor, or ``--dump`` to print every event."""

from __future__ import annotations

import sys

import click

from celeriac.cli.base import CLIContext
from celeriac.exceptions import CeleriacError

__all__ = ["events"]


@click.command()
@click.option("-d", "--dump", is_flag=True, help="Dump events to stdout.")
@click.pass_obj
def events(obj: CLIContext, dump: bool) -> None:
    """Watch the cluster's events: a full-screen monitor, or --dump for one line each.

    Monitor keys: up/down (j/k, PgUp/PgDn) select a task, Enter shows its details,
    r revokes it, t terminates it, c clears the list, q quits.
    """
    if dump:
        _dump(obj)
    else:
        _monitor(obj)


def _dump(obj: CLIContext) -> None:
    from celeriac.events.dumper import Dumper
    from celeriac.events.receiver import EventReceiver

    dumper = Dumper(click.echo)
    obj.echo("-> evdump: starting capture...")
    try:
        receiver = EventReceiver(obj.app, handlers={"*": dumper.on_event})
        receiver.capture()
    except KeyboardInterrupt:
        return
    except CeleriacError as exc:
        raise click.ClickException(f"events: {exc}") from exc


def _monitor(obj: CLIContext) -> None:
    import curses

    from celeriac.events.monitor import evtop

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.UsageError("the monitor needs a terminal; use --dump to print events")
    app = obj.app
    try:
        evtop(app, use_colors=not obj.no_color)
    except KeyboardInterrupt:
        return
    except curses.error as exc:
        raise click.ClickException(f"events: cannot use this terminal: {exc}") from exc
    finally:
        app.close()
