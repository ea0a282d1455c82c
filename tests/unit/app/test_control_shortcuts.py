"""``app.control``'s shortcut methods against an in-thread worker on the memory broker.

Each shortcut sends Celery's command name and arguments through ``broadcast``; the
worker's reply (or the change it made) shows the message arrived whole.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker
from celeriac.testing.worker import start_worker
from tests.e2e.wait import wait_until

NODE = "celery@test-worker"
#: Wait for the one worker's reply, not for the timeout.
REPLY: dict[str, Any] = {"reply": True, "timeout": 5, "limit": 1}


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"shortcuts-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


def only(replies: list[dict[str, Any]] | None) -> Any:
    """The one node's reply."""
    assert replies is not None and len(replies) == 1, replies
    [(node, reply)] = replies[0].items()
    assert node == NODE
    return reply


def test_events_heartbeat_and_time_limit(app: Celery) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app) as worker:
        control = app.control
        assert only(control.enable_events(**REPLY)) == {"ok": "task events enabled"}
        assert worker.services.events is not None and worker.services.events.enabled
        assert only(control.disable_events(**REPLY)) == {"ok": "task events disabled"}
        assert not worker.services.events.enabled
        # heartbeat answers None, as Celery's workers do.
        assert only(control.heartbeat(**REPLY)) is None
        assert only(control.time_limit(add.name, soft=2, hard=4, **REPLY)) == {
            "ok": "time limits set successfully"
        }
        assert (add.soft_time_limit, add.time_limit) == (2, 4)
        # Not replying: sent and applied all the same.
        assert control.time_limit(add.name, soft=1, hard=3, destination=[NODE]) is None
        assert wait_until(lambda: add.time_limit == 3)


def test_pool_grow_shrink_and_restart(app: Celery) -> None:
    app.conf.worker_pool_restarts = True
    with start_worker(app, concurrency=2) as worker:
        assert worker.pool is not None
        control = app.control
        assert only(control.pool_grow(2, **REPLY)) == {"ok": "pool will grow"}
        assert worker.pool.limit == 4
        stats = control.inspect(timeout=5, limit=1).stats()[NODE]
        assert stats["pool"]["max-concurrency"] == 4  # the size now, not at start
        assert only(control.pool_shrink(**REPLY)) == {"ok": "pool will shrink"}
        assert worker.pool.limit == 3
        # Named modules only: other tests' shared tasks may name modules gone by now.
        assert only(control.pool_restart(["json"], **REPLY)) == {"ok": "reload started"}
        assert only(control.autoscale(4, 2, **REPLY)) == {
            "error": "ValueError('Autoscale not enabled')"
        }
        with pytest.raises(ValueError, match="reloader"):
            control.pool_restart(reloader=print)


def test_autoscale(app: Celery) -> None:
    with start_worker(app, autoscale=(3, 1)) as worker:
        assert only(app.control.autoscale(5, 2, **REPLY)) == {"ok": "autoscale now max=5 min=2"}
        assert worker.autoscaler is not None
        stats = app.control.inspect(timeout=5, limit=1).stats()[NODE]
        assert stats["pool"]["max-concurrency"] == stats["autoscaler"]["max"] == 5
        assert only(app.control.pool_grow(**REPLY))["error"].startswith(
            "pool_grow is not supported with autoscale"
        )


def test_consumers_terminate_shutdown_and_purge(app: Celery) -> None:
    started, release = threading.Event(), threading.Event()

    @app.task
    def block() -> str:
        started.set()
        while not release.wait(0.05):  # runs Python code, so the thread can be stopped
            pass
        return "released"

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app, concurrency=1) as worker:
        control = app.control
        assert only(control.add_consumer("extra", **REPLY)) == {"ok": "add consumer extra"}
        assert add.apply_async((1, 2), queue="extra").get(timeout=5) == 3
        assert only(control.cancel_consumer("extra", **REPLY)) == {
            "ok": "no longer consuming from extra"
        }
        running = block.delay()
        assert started.wait(5)
        assert only(control.terminate(running.id, signal="SIGTERM", **REPLY)) == {
            "ok": f"terminate: {running.id}"
        }
        assert wait_until(lambda: running.state == "REVOKED")
        release.set()
        assert running.id in worker.revoked
        assert control.shutdown() is None
        assert wait_until(lambda: not control.ping(timeout=0.2), timeout=5)
    add.apply_async((1, 1), queue="nobody")
    add.delay(1, 1)
    add.delay(2, 2)
    assert control.purge() == 2  # the default queue only: "nobody" is not a known queue
    assert control.discard_all() == 0


def test_broadcast_keeps_connection_and_channel_out_of_the_arguments(app: Celery) -> None:
    with start_worker(app):
        replies = app.control.broadcast("ping", **REPLY, connection=object(), channel=object())
        assert replies == [{NODE: {"ok": "pong"}}]
