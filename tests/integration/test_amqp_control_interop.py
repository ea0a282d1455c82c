"""Remote control between Celery and celeriac on one RabbitMQ, both ways."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import _amqp_env

pytestmark = [pytest.mark.amqp, pytest.mark.e2e]
make_env = _amqp_env.make_env  # the fixture


def test_celery_inspects_a_celeriac_worker(make_env: Any) -> None:
    env = make_env("rpc://")
    worker = env.celeriac_worker("-n", "cel-amqp@%h")
    node = worker.output.split()[0]
    peer = env.module("peer_tasks")
    replies = peer.app.control.inspect(timeout=2, destination=[node]).ping()
    assert replies == {node: {"ok": "pong"}}
    assert (
        "interop.add" in peer.app.control.inspect(timeout=2, destination=[node]).registered()[node]
    )


def test_celeriac_inspects_a_celery_worker(make_env: Any) -> None:
    env = make_env("rpc://")
    worker = env.celery_worker()
    node = next(line for line in worker.lines if "@" in line and "ready" in line).split()[-2]
    cel = env.module("cel_tasks")
    replies = cel.app.control.ping(timeout=2, destination=[node])
    assert replies == [{node: {"ok": "pong"}}]
