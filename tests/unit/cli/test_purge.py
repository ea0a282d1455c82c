from __future__ import annotations

from celeriac.app.base import Celery
from celeriac.app.routing import Queue
from celeriac.brokers.base import DEAD_LETTER_QUEUE
from tests.unit.cli.conftest import Run


def _send(app: Celery, queue: str = "celery", count: int = 1) -> None:
    for _ in range(count):
        app.send_task("cliproj.add", args=[1, 2], queue=queue)


def _dead_letter_one(app: Celery, queue: str = "celery") -> None:
    _send(app, queue)
    delivery = app.broker.get([queue], timeout=0)
    assert delivery is not None
    app.broker.dead_letter(delivery, "content type 'application/x-yaml' is not accepted")


def test_force_purges_the_default_queue(run: Run, app: Celery) -> None:
    _send(app, count=3)

    result = run("purge", "-f")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Purged 3 messages from 1 known task queue.\n"
    assert app.broker.size("celery") == 0


def test_one_message_is_singular(run: Run, app: Celery) -> None:
    _send(app)

    result = run("purge", "--force")

    assert result.stdout == "Purged 1 message from 1 known task queue.\n"


def test_nothing_to_purge(run: Run, app: Celery) -> None:
    result = run("purge", "-f")

    assert result.exit_code == 0, result.output
    assert result.stdout == "No messages purged from 1 queue.\n"


def test_prompt_answered_no_aborts_and_keeps_the_messages(run: Run, app: Celery) -> None:
    _send(app, count=2)

    result = run("purge", input="n\n")

    assert result.exit_code == 1
    assert "WARNING: This will remove all tasks from 1 queue: celery.\n" in result.stdout
    assert "There is no undo for this operation!" in result.stdout
    assert "(to skip this prompt use the -f option)" in result.stdout
    assert "Are you sure you want to delete all tasks? [y/N]: " in result.stdout
    assert "Aborted!" in result.stderr
    assert app.broker.size("celery") == 2


def test_prompt_answered_yes_purges(run: Run, app: Celery) -> None:
    _send(app, count=2)

    result = run("purge", input="y\n")

    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("Purged 2 messages from 1 known task queue.\n")
    assert app.broker.size("celery") == 0


def test_queues_option_names_the_queues(run: Run, app: Celery) -> None:
    for queue in ("a", "b", "c", "d"):
        _send(app, queue)

    result = run("purge", "-f", "-Q", "a,b", "--queues", "c")

    assert result.stdout == "Purged 3 messages from 3 known task queues.\n"
    sizes = {queue: app.broker.size(queue) for queue in ("a", "b", "c", "d")}
    assert sizes == {"a": 0, "b": 0, "c": 0, "d": 1}


def test_declared_queues_minus_excluded_ones(run: Run, app: Celery) -> None:
    app.conf.task_queues = [Queue("a"), Queue("b"), Queue("c")]
    for queue in ("a", "b", "c", "celery"):
        _send(app, queue, count=2)

    result = run("purge", "-f", "-X", "b", "-X", "c")

    assert result.stdout == "Purged 2 messages from 1 known task queue.\n"
    sizes = {queue: app.broker.size(queue) for queue in ("a", "b", "c", "celery")}
    assert sizes == {"a": 0, "b": 2, "c": 2, "celery": 2}


def test_prompt_lists_the_queues_sorted(run: Run, app: Celery) -> None:
    app.conf.task_queues = [Queue("video"), Queue("image")]

    result = run("purge", "-X", "nothing", input="n\n")

    assert "This will remove all tasks from 2 queues: image, video.\n" in result.stdout


def test_excluding_everything_purges_nothing_without_asking(run: Run, app: Celery) -> None:
    _send(app)

    result = run("purge", "-X", "celery")

    assert (result.exit_code, result.stdout) == (0, "No messages purged from 0 queues.\n")
    assert app.broker.size("celery") == 1


def test_dead_letter_queue_is_left_alone(run: Run, app: Celery) -> None:
    app.conf.task_queues = [Queue("celery"), Queue(DEAD_LETTER_QUEUE)]
    _dead_letter_one(app)
    _send(app)

    result = run("purge", "-f")

    assert result.stdout == "Purged 1 message from 1 known task queue.\n"
    assert app.broker.size(DEAD_LETTER_QUEUE) == 1


def test_dead_letter_queue_is_purged_when_named(run: Run, app: Celery) -> None:
    _dead_letter_one(app)

    result = run("purge", "-f", "-Q", DEAD_LETTER_QUEUE)

    assert result.stdout == "Purged 1 message from 1 known task queue.\n"
    assert app.broker.size(DEAD_LETTER_QUEUE) == 0


def test_quiet_prints_nothing(run: Run, app: Celery) -> None:
    _send(app)

    result = run("-q", "purge", "-f")

    assert (result.exit_code, result.stdout) == (0, "")
    assert app.broker.size("celery") == 0
