from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from celeriac.app.base import Celery
from celeriac.app.dead_letters import list_dead_letters, requeue_dead_letters
from celeriac.brokers.base import DEAD_LETTER_QUEUE, Broker
from celeriac.brokers.registry import broker_from_url
from celeriac.protocol import Message
from tests.unit.cli.conftest import Run

REFUSED = "content type 'application/x-yaml' is not accepted"
NO_HEADERS = "invalid task message: missing 'task' header"


def _dead_letter_next(broker: Broker, queue: str, reason: str) -> Message:
    """Move the next message of ``queue`` to the dead-letter queue; return it as it was."""
    delivery = broker.get([queue], timeout=0)
    assert delivery is not None
    broker.dead_letter(delivery, reason)
    return delivery.message


def _dead_letter_task(app: Celery, queue: str = "celery") -> tuple[str, Message]:
    task_id = app.send_task("cliproj.add", args=[1, 2], queue=queue).id
    return task_id, _dead_letter_next(app.broker, queue, REFUSED)


def _dead_letter_garbage(broker: Broker, queue: str = "celery") -> Message:
    garbage = Message(b"\x00not json", {"x-custom": "1"}, {"priority": 0})
    broker.publish(garbage, routing_key=queue)
    return _dead_letter_next(broker, queue, NO_HEADERS)


def test_list_shows_id_name_queue_and_reason(run: Run, app: Celery) -> None:
    task_id, _ = _dead_letter_task(app, "hipri")
    _dead_letter_garbage(app.broker)

    result = run("dead-letters", "list")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{task_id} cliproj.add hipri {REFUSED}",
        f"- - celery {NO_HEADERS}",
    ]


def test_list_json_is_one_object_per_line(run: Run, app: Celery) -> None:
    task_id, _ = _dead_letter_task(app)
    _dead_letter_garbage(app.broker)

    result = run("dead-letters", "list", "-j")

    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"id": task_id, "task": "cliproj.add", "queue": "celery", "reason": REFUSED},
        {"id": None, "task": None, "queue": "celery", "reason": NO_HEADERS},
    ]


def test_list_limit(run: Run, app: Celery) -> None:
    first, _ = _dead_letter_task(app)
    _dead_letter_task(app)

    result = run("dead-letters", "list", "--limit", "1", "--json")

    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [first]


def test_list_of_nothing_prints_nothing(run: Run, app: Celery) -> None:
    result = run("dead-letters", "list")

    assert (result.exit_code, result.stdout) == (0, "")


def test_requeue_all_restores_the_original_messages(run: Run, app: Celery) -> None:
    _, task_message = _dead_letter_task(app, "hipri")
    garbage = _dead_letter_garbage(app.broker)

    result = run("dead-letters", "requeue")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Requeued 2 messages.\n"
    assert app.broker.size(DEAD_LETTER_QUEUE) == 0
    [back_in_hipri] = app.broker.peek("hipri")
    [back_in_celery] = app.broker.peek("celery")
    assert back_in_hipri.body == task_message.body
    assert back_in_hipri.headers == task_message.headers
    assert back_in_hipri.properties == task_message.properties
    assert back_in_celery.body == garbage.body == b"\x00not json"
    assert back_in_celery.headers == {"x-custom": "1"}


def test_requeue_by_id_moves_only_those(run: Run, app: Celery) -> None:
    wanted, message = _dead_letter_task(app)
    other, _ = _dead_letter_task(app)
    _dead_letter_garbage(app.broker)

    result = run("dead-letters", "requeue", wanted)

    assert result.exit_code == 0, result.output
    assert result.stdout == "Requeued 1 message.\n"
    assert [m.body for m in app.broker.peek("celery")] == [message.body]
    # The others are back in the dead-letter queue, deliverable, in their order.
    left = list_dead_letters(app.broker)
    assert [(letter.task_id, letter.reason) for letter in left] == [
        (other, REFUSED),
        (None, NO_HEADERS),
    ]
    assert app.broker.size(DEAD_LETTER_QUEUE) == 2


def test_requeue_of_an_unknown_id_is_an_error(run: Run, app: Celery) -> None:
    _dead_letter_task(app)

    result = run("dead-letters", "requeue", "nope", "nada")

    assert result.exit_code == 1
    assert result.stdout == "Requeued 0 messages.\n"
    assert result.stderr == "Error: no dead-lettered message with id nada, nope\n"
    assert app.broker.size(DEAD_LETTER_QUEUE) == 1
    assert app.broker.size("celery") == 0


def test_purge_asks_first(run: Run, app: Celery) -> None:
    _dead_letter_task(app)
    _dead_letter_garbage(app.broker)

    result = run("dead-letters", "purge", input="n\n")

    assert result.exit_code == 1
    assert f"This will delete 2 messages from {DEAD_LETTER_QUEUE}." in result.stdout
    assert "Aborted!" in result.stderr
    assert app.broker.size(DEAD_LETTER_QUEUE) == 2


def test_purge_with_yes_or_force_deletes_them(run: Run, app: Celery) -> None:
    _dead_letter_task(app)
    _dead_letter_garbage(app.broker)

    asked = run("dead-letters", "purge", input="y\n")
    _dead_letter_task(app)
    forced = run("dead-letters", "purge", "-f")
    empty = run("dead-letters", "purge")

    assert asked.stdout.endswith(f"Purged 2 messages from {DEAD_LETTER_QUEUE}.\n")
    assert forced.stdout == f"Purged 1 message from {DEAD_LETTER_QUEUE}.\n"
    assert empty.stdout == f"No messages purged from {DEAD_LETTER_QUEUE}.\n"
    assert app.broker.size(DEAD_LETTER_QUEUE) == 0


@pytest.fixture(params=["sqlite", "memory"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Broker:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/dl.sqlite3"
    else:
        url = f"memory://dead-letters-{uuid.uuid4().hex}"
    engine = broker_from_url(url, transport_options={})
    engine.open()
    request.addfinalizer(engine.close)
    return engine


def test_requeue_leaves_messages_without_an_origin_in_place(broker: Broker) -> None:
    stray = Message(b"{}", {"id": "s-1", "task": "x"}, {})
    broker.publish(stray, routing_key=DEAD_LETTER_QUEUE)
    _dead_letter_garbage(broker)

    moved = requeue_dead_letters(broker)

    assert [letter.reason for letter in moved] == [NO_HEADERS]
    assert [m.headers for m in broker.peek(DEAD_LETTER_QUEUE)] == [stray.headers]
    assert broker.size("celery") == 1


def test_requeue_publishes_before_it_acks(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing publish leaves every message in the dead-letter queue."""
    _dead_letter_garbage(broker)
    _dead_letter_garbage(broker)

    class Boom(Exception):
        pass

    def failing_publish(*args: object, **kwargs: object) -> None:
        raise Boom

    with monkeypatch.context() as patch:
        patch.setattr(broker, "publish", failing_publish)
        with pytest.raises(Boom):
            requeue_dead_letters(broker)

    assert broker.size(DEAD_LETTER_QUEUE) == 2
    assert requeue_dead_letters(broker, ["missing"]) == []
    assert len(requeue_dead_letters(broker)) == 2
    assert broker.size("celery") == 2
