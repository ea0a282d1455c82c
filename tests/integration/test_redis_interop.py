"""Celery and celeriac on one Redis (broker and results), in both directions."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from tests.integration import _redis_env

pytestmark = [
    pytest.mark.redis,
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]
make_redis_env = _redis_env.make_redis_env  # the fixture


def test_celery_client_to_celeriac_worker(make_redis_env: Any) -> None:
    env = make_redis_env()
    env.celeriac_worker("-c", "2")
    peer = env.module("rpeer_tasks")
    assert peer.app.send_task("interop.add", (2, 2)).get(timeout=15) == 4
    with pytest.raises(TypeError, match="unsupported operand"):
        peer.add.delay(2, "2").get(timeout=15)

    sent = time.monotonic()
    assert peer.add.apply_async((3, 4), countdown=2).get(timeout=15) == 7
    assert time.monotonic() - sent >= 2.0  # never before its countdown

    from celery.exceptions import TaskRevokedError

    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    expired = peer.add.apply_async((1, 1), expires=past)
    with pytest.raises(TaskRevokedError):
        expired.get(timeout=15)
    assert expired.state == "REVOKED"

    unknown = peer.app.send_task("interop.no_such_task", (1,))
    with pytest.raises(Exception) as info:
        unknown.get(timeout=15)
    assert type(info.value).__name__ == "NotRegistered"
    assert unknown.state == "FAILURE"


def test_celeriac_client_to_celery_worker(
    make_redis_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_redis_env()
    # Only Celery consumes here: countdown messages go to the list, not celeriac's hold.
    monkeypatch.setenv("IT_HOLD_ETA", "0")
    env.celery_worker()
    cel = env.module("rcel_tasks")
    assert cel.add.delay(2, 2).get(timeout=15) == 4
    res = cel.add.delay(2, "2")
    with pytest.raises(TypeError, match="unsupported operand"):
        res.get(timeout=15)
    assert res.state == "FAILURE"
    sent = time.monotonic()
    assert cel.add.apply_async((3, 4), countdown=1).get(timeout=15) == 7
    assert time.monotonic() - sent >= 1.0
    peer = env.module("rpeer_tasks")
    done = cel.add.delay(6, 7)
    assert peer.app.AsyncResult(done.id).get(timeout=15) == 13


def test_countdown_held_by_celeriac_runs_on_a_celery_worker(make_redis_env: Any) -> None:
    # A celeriac client holds the countdown broker-side; a celeriac worker moves it to
    # the list when due, where the Celery worker (the only one with the task) takes it.
    env = make_redis_env()
    env.celery_worker()
    env.celeriac_worker("-Q", "celeriac-only")
    cel = env.module("rcel_tasks")
    sent = time.monotonic()
    assert cel.add.apply_async((5, 6), countdown=1).get(timeout=15) == 11
    assert time.monotonic() - sent >= 1.0


def test_celery_and_celeriac_workers_share_a_queue(make_redis_env: Any) -> None:
    env = make_redis_env()
    env.celery_worker()
    env.celeriac_worker("-c", "2")
    cel = env.module("rcel_tasks")
    results = [cel.add.delay(i, i) for i in range(40)]
    assert [r.get(timeout=20) for r in results] == [i * 2 for i in range(40)]
