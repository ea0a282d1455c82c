"""``celeriac purge``: delete the waiting messages of task queues."""

from __future__ import annotations

import click

from celeriac.app.base import Celery
from celeriac.brokers.base import DEAD_LETTER_QUEUE
from celeriac.cli.base import COMMA_LIST, CLIContext, GroupedCommand, GroupedOption, comma_list
from celeriac.exceptions import CeleriacError

__all__ = ["purge"]

_HELP = """Erase all messages from all known task queues.

The known task queues are the task_queues setting, or the default queue when none
are declared. Messages a worker holds (not acknowledged yet) are left alone. The
dead-letter queue (celeriac.dead_letter) is purged only when named with -Q; see
"celeriac dead-letters".

Warning: there's no undo operation for this command.
"""


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def known_queues(app: Celery) -> set[str]:
    """Return the declared queues (``task_queues``), or the default queue if none are."""
    declared = {str(queue.name) for queue in app.conf.task_queues or ()}
    return declared or {app.conf.task_default_queue}


@click.command(cls=GroupedCommand, help=_HELP)
@click.option(
    "-f",
    "--force",
    cls=GroupedOption,
    help_group="Purging Options",
    is_flag=True,
    help="Don't prompt for verification.",
)
@click.option(
    "-Q",
    "--queues",
    cls=GroupedOption,
    help_group="Purging Options",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Comma separated list of queue names to purge.",
)
@click.option(
    "-X",
    "--exclude-queues",
    cls=GroupedOption,
    help_group="Purging Options",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Comma separated list of queues names not to purge.",
)
@click.pass_obj
def purge(
    obj: CLIContext,
    *,
    force: bool,
    queues: list[str],
    exclude_queues: list[str],
) -> None:
    """Erase all messages from all known task queues."""
    app = obj.app
    named = set(queues)
    names = (named or known_queues(app) - {DEAD_LETTER_QUEUE}) - set(exclude_queues)
    queues_headline = _plural(len(names), "queue")
    if names and not force:
        warning = "WARNING" if obj.no_color else click.style("WARNING", fg="red")
        click.confirm(
            f"{warning}: This will remove all tasks from {len(names)} {queues_headline}: "
            f"{', '.join(sorted(names))}.\n"
            "         There is no undo for this operation!\n\n"
            "(to skip this prompt use the -f option)\n"
            "Are you sure you want to delete all tasks?",
            abort=True,
        )
    try:
        messages = sum(app.broker.purge(name) for name in sorted(names))
    except CeleriacError as exc:
        raise click.ClickException(str(exc)) from exc
    if messages:
        obj.echo(
            f"Purged {messages} {_plural(messages, 'message')} from "
            f"{len(names)} known task {queues_headline}."
        )
    else:
        obj.echo(f"No messages purged from {len(names)} {queues_headline}.")
