"""group.apply_async publishes through broker.publish_many, in batches, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from celeriac import Celery, group, signals
from celeriac.app.sending import BATCH_SIZE, publishing_batch
from celeriac.brokers.base import Outgoing
from celeriac.exceptions import EncodeError


@pytest.fixture
def app(add_app: Celery) -> Celery:
    return add_app


@pytest.fixture
def batches(app: Celery, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each publish_many call the app's broker gets."""
    sizes: list[int] = []
    real = app.broker.publish_many

    def publish_many(items: Sequence[Outgoing]) -> None:
        sizes.append(len(items))
        real(items)

    monkeypatch.setattr(app.broker, "publish_many", publish_many)
    return sizes


def test_a_group_goes_out_in_batches_in_member_order(app: Celery, batches: list[int]) -> None:
    add = app.tasks["proj.add"]
    published: list[str] = []

    def after(sender: Any, headers: dict[str, Any], **_: Any) -> None:
        published.append(headers["id"])

    signals.after_task_publish.connect(after)
    try:
        result = group(add.s(i, i) for i in range(2 * BATCH_SIZE + 3)).apply_async()
    finally:
        signals.after_task_publish.disconnect(after)
    assert batches == [BATCH_SIZE, BATCH_SIZE, 3]
    ids = [member.id for member in result.results]
    assert published == ids
    messages = app.broker.peek("celery", limit=3 * BATCH_SIZE)
    assert [m.headers["id"] for m in messages] == ids
    assert [m.headers["group_index"] for m in messages] == list(range(2 * BATCH_SIZE + 3))


def test_nothing_of_a_group_is_sent_when_one_member_cannot_be_encoded(
    app: Celery, batches: list[int]
) -> None:
    add = app.tasks["proj.add"]
    with pytest.raises(EncodeError):
        group(add.s(1, 1), add.s(object(), 2)).apply_async()
    assert batches == []
    assert app.broker.size("celery") == 0


def test_nested_batches_join_the_outer_one(app: Celery, batches: list[int]) -> None:
    add = app.tasks["proj.add"]
    with publishing_batch(app):
        group(add.s(1, 1), group(add.s(2, 2), add.s(3, 3))).apply_async()
        add.delay(4, 4)
        assert app.broker.size("celery") == 0
    assert batches == [4]
    assert app.broker.size("celery") == 4


def test_a_delay_outside_a_batch_is_sent_at_once(app: Celery, batches: list[int]) -> None:
    app.tasks["proj.add"].delay(1, 2)
    assert batches == []
    assert app.broker.size("celery") == 1


def test_a_batched_group_sends_task_sent_events_once_published(app: Celery) -> None:
    from celeriac.events.receiver import EventReceiver

    add = app.tasks["proj.add"]
    receiver = EventReceiver(app)
    list(receiver.events(timeout=0))
    app.conf.task_send_sent_event = True
    result = group(add.s(i, i) for i in range(3)).apply_async(queue="other")
    events = list(receiver.events(timeout=5))
    assert [e["uuid"] for e in events if e["type"] == "task-sent"] == [
        member.id for member in result.results
    ]
    assert {e["queue"] for e in events} == {"other"}
