"""Celery and celeriac on one RabbitMQ, in both directions, with rpc:// and Redis results."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration import _amqp_env

pytestmark = [pytest.mark.amqp, pytest.mark.e2e]
make_env = _amqp_env.make_env  # the fixture


def _redis_backend(redis_url: str) -> str:
    pytest.importorskip("celeriac.backends.redis", reason="the Redis result backend")
    return redis_url


def test_celery_client_to_celeriac_worker_rpc(make_env: Any) -> None:
    env = make_env("rpc://")
    env.celeriac_worker("-c", "2")
    peer = env.module("peer_tasks")
    assert peer.app.send_task("interop.add", (2, 2)).get(timeout=15) == 4
    with pytest.raises(TypeError, match="unsupported operand"):
        peer.add.delay(2, "2").get(timeout=15)
    sent = time.monotonic()
    assert peer.add.apply_async((3, 4), countdown=1).get(timeout=15) == 7
    assert time.monotonic() - sent >= 1.0


def test_celeriac_client_to_celery_worker_rpc(make_env: Any) -> None:
    env = make_env("rpc://")
    env.celery_worker()
    cel = env.module("cel_tasks")
    assert cel.add.delay(2, 2).get(timeout=15) == 4
    res = cel.add.delay(2, "2")
    with pytest.raises(TypeError, match="unsupported operand"):
        res.get(timeout=15)
    assert res.state == "FAILURE"
    sent = time.monotonic()
    assert cel.add.apply_async((3, 4), countdown=1).get(timeout=15) == 7
    assert time.monotonic() - sent >= 1.0


def test_celery_client_to_celeriac_worker_redis_results(make_env: Any, redis_url: str) -> None:
    env = make_env(_redis_backend(redis_url))
    env.celeriac_worker("-c", "2")
    peer = env.module("peer_tasks")
    assert peer.add.delay(5, 5).get(timeout=15) == 10
    with pytest.raises(TypeError):
        peer.add.delay(2, "2").get(timeout=15)


def test_celeriac_client_to_celery_worker_redis_results(make_env: Any, redis_url: str) -> None:
    env = make_env(_redis_backend(redis_url))
    env.celery_worker()
    cel = env.module("cel_tasks")
    res = cel.add.delay(6, 7)
    assert res.get(timeout=15) == 13
    peer = env.module("peer_tasks")
    assert peer.app.AsyncResult(res.id).get(timeout=15) == 13
