"""What the worker does with messages it cannot run: nothing is lost, nothing crashes."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest

from celeriac import states
from celeriac.brokers.base import DEAD_LETTER_QUEUE
from celeriac.exceptions import NotRegistered
from celeriac.protocol import Message, build_task_message
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e


def _app() -> Any:
    from proj.celeriac import app

    return app


def test_unknown_task_is_recorded_as_failure(proj: ModuleType, start_worker: Any) -> None:
    worker = start_worker()
    app = _app()
    res = app.send_task("proj.tasks.does_not_exist", (1, 2))
    with pytest.raises(NotRegistered):
        res.get(timeout=10)
    assert res.state == states.FAILURE
    assert worker.wait_for_line(f"discarded (task id {res.id})")
    assert proj.add.delay(1, 1).get(timeout=10) == 2  # still serving
    assert app.broker.size("celery") == 0


def test_refused_content_type_is_dead_lettered(proj: ModuleType, start_worker: Any) -> None:
    worker = start_worker()
    app = _app()
    res = proj.add.apply_async((1, 2), serializer="pickle")
    assert wait_until(lambda: app.broker.size(DEAD_LETTER_QUEUE) == 1)
    [kept] = app.broker.peek(DEAD_LETTER_QUEUE)
    assert kept.headers["id"] == res.id
    assert "application/x-python-serialize" in kept.headers["x-dead-letter-reason"]
    assert kept.headers["x-dead-letter-queue"] == "celery"
    assert kept.content_type == "application/x-python-serialize"
    assert worker.wait_for_line(f"Moving message {res.id} from queue 'celery'")
    assert proj.add.delay(2, 2).get(timeout=10) == 4


def test_undecodable_body_is_dead_lettered(proj: ModuleType, start_worker: Any) -> None:
    start_worker()
    app = _app()
    good = build_task_message(name="proj.tasks.add", task_id=str(uuid.uuid4()), args=(1, 1))
    broken = Message(
        b"[[1, 1], {not json",
        good.headers,
        good.properties,
        good.content_type,
        good.content_encoding,
    )
    app.broker.publish(broken, routing_key="celery")
    assert wait_until(lambda: app.broker.size(DEAD_LETTER_QUEUE) == 1)
    [kept] = app.broker.peek(DEAD_LETTER_QUEUE)
    assert kept.body == broken.body
    assert "decode" in kept.headers["x-dead-letter-reason"]
    assert proj.add.delay(3, 3).get(timeout=10) == 6


@pytest.mark.parametrize("missing", ["task", "id"])
def test_message_without_task_or_id_is_dead_lettered(
    proj: ModuleType, start_worker: Any, missing: str
) -> None:
    start_worker()
    app = _app()
    good = build_task_message(name="proj.tasks.add", task_id=str(uuid.uuid4()), args=(1, 1))
    headers = {k: v for k, v in good.headers.items() if k != missing}
    app.broker.publish(Message(good.body, headers, good.properties), routing_key="celery")
    assert wait_until(lambda: app.broker.size(DEAD_LETTER_QUEUE) == 1)
    [kept] = app.broker.peek(DEAD_LETTER_QUEUE)
    assert missing not in kept.headers
    assert proj.add.delay(4, 4).get(timeout=10) == 8


def test_expired_task_is_revoked_not_run(proj: ModuleType, start_worker: Any) -> None:
    import datetime as dt

    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    res = proj.add.apply_async((1, 1), expires=past)
    start_worker()
    assert wait_until(lambda: res.state == states.REVOKED)
    assert "expired" in str(res.result)
