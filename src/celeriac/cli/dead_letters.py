"""``celeriac dead-letters``: list, requeue or delete the messages workers could not handle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from celeriac.app.dead_letters import list_dead_letters, requeue_dead_letters
from celeriac.brokers.base import DEAD_LETTER_QUEUE
from celeriac.cli.base import CLIContext
from celeriac.exceptions import CeleriacError

__all__ = ["dead_letters"]


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except CeleriacError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("dead-letters")
def dead_letters() -> None:
    """Inspect, requeue or delete dead-lettered messages.

    A worker moves a message it cannot handle (undecodable body, refused content
    type, missing task or id header) to the celeriac.dead_letter queue, adding the
    headers x-dead-letter-queue (where it came from) and x-dead-letter-reason.
    """


@dead_letters.command("list")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Show at most this many messages, oldest first.",
)
@click.option("-j", "--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.pass_obj
def list_(obj: CLIContext, *, limit: int, as_json: bool) -> None:
    """List dead-lettered messages: task id, task name, original queue, reason.

    A missing value prints as "-" (null with --json).
    """
    with _one_line_errors():
        letters = list_dead_letters(obj.app.broker, limit)
    for letter in letters:
        if as_json:
            obj.echo(json.dumps(letter.as_dict()))
        else:
            reason = " ".join((letter.reason or "-").split())
            fields = (letter.task_id, letter.task_name, letter.queue)
            obj.echo(" ".join([*(value or "-" for value in fields), reason]))


@dead_letters.command("requeue")
@click.argument("task_ids", nargs=-1, metavar="[ID]...")
@click.pass_obj
def requeue(obj: CLIContext, *, task_ids: tuple[str, ...]) -> None:
    """Move messages back to their original queues (all of them when no id is given).

    The x-dead-letter headers are removed; body and other headers are kept as they
    were. Exits with status 1 if an id given is not in the dead-letter queue.
    """
    with _one_line_errors():
        moved = requeue_dead_letters(obj.app.broker, task_ids or None)
    obj.echo(f"Requeued {len(moved)} {_plural(len(moved), 'message')}.")
    missing = sorted(set(task_ids) - {letter.task_id for letter in moved})
    if missing:
        raise click.ClickException(f"no dead-lettered message with id {', '.join(missing)}")


@dead_letters.command("purge")
@click.option("-f", "--force", is_flag=True, help="Don't prompt for verification.")
@click.pass_obj
def purge(obj: CLIContext, *, force: bool) -> None:
    """Delete all dead-lettered messages."""
    with _one_line_errors():
        broker = obj.app.broker
        waiting = broker.size(DEAD_LETTER_QUEUE)
    if waiting and not force:
        warning = "WARNING" if obj.no_color else click.style("WARNING", fg="red")
        click.confirm(
            f"{warning}: This will delete {waiting} {_plural(waiting, 'message')} from "
            f"{DEAD_LETTER_QUEUE}.\n"
            "         There is no undo for this operation!\n\n"
            "(to skip this prompt use the -f option)\n"
            "Are you sure you want to delete all dead-lettered messages?",
            abort=True,
        )
    with _one_line_errors():
        deleted = broker.purge(DEAD_LETTER_QUEUE)
    if deleted:
        obj.echo(f"Purged {deleted} {_plural(deleted, 'message')} from {DEAD_LETTER_QUEUE}.")
    else:
        obj.echo(f"No messages purged from {DEAD_LETTER_QUEUE}.")
