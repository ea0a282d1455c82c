"""Remote control that tunes a running in-thread worker; retries; state across restarts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.app.retries import backoff_interval
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import MaxRetriesExceededError
from celeriac.testing.worker import start_worker
from tests.e2e.wait import wait_until


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"tuning-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


def control(app: Celery, command: str, **arguments: Any) -> Any:
    replies = app.control.broadcast(command, arguments=arguments, reply=True, timeout=2, limit=1)
    assert replies, f"no reply to {command}"
    return next(iter(replies[0].values()))


def test_rate_limit_and_time_limit_commands(app: Celery) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app):
        assert control(app, "rate_limit", task_name=add.name, rate_limit="5/m") == {
            "ok": "new rate limit set successfully"
        }
        assert add.rate_limit == "5/m"
        assert control(app, "rate_limit", task_name=add.name, rate_limit=None) == {
            "ok": "rate limit disabled successfully"
        }
        assert control(app, "rate_limit", task_name="nope", rate_limit="1/s") == {
            "error": "unknown task"
        }
        assert (
            "Invalid rate limit"
            in control(app, "rate_limit", task_name=add.name, rate_limit="1/week")["error"]
        )
        assert control(app, "time_limit", task_name=add.name, soft=1.5, hard=3) == {
            "ok": "time limits set successfully"
        }
        assert (add.soft_time_limit, add.time_limit) == (1.5, 3)
        assert control(app, "time_limit", task_name="nope") == {"error": "unknown task"}


def test_rate_limited_tasks_wait_without_blocking_others(app: Celery) -> None:
    @app.task(rate_limit="1/m")
    def slow(i: int) -> int:
        return i

    @app.task
    def fast(i: int) -> int:
        return i

    with start_worker(app, concurrency=2) as worker:
        held = [slow.delay(i) for i in range(3)]
        assert held[0].get(timeout=5) == 0
        assert [fast.delay(i).get(timeout=5) for i in range(3)] == [0, 1, 2]
        info = app.control.inspect(timeout=2, limit=1).reserved()
        waiting = [task["id"] for task in next(iter(info.values()))]
        assert waiting == [held[1].id, held[2].id]
        assert worker.consumer is not None and len(worker.consumer.rate_limits) == 2
        control(app, "rate_limit", task_name=slow.name, rate_limit=None)  # lift it
        assert [r.get(timeout=5) for r in held[1:]] == [1, 2]


def test_pool_grow_shrink_and_autoscale_replies(app: Celery) -> None:
    with start_worker(app, concurrency=1) as worker:
        assert worker.pool is not None
        assert control(app, "pool_grow", n=2) == {"ok": "pool will grow"}
        assert worker.pool.limit == 3
        assert control(app, "pool_shrink") == {"ok": "pool will shrink"}
        assert worker.pool.limit == 2
        assert "below one" in control(app, "pool_shrink", n=5)["error"]
        assert control(app, "autoscale", max=4, min=1) == {
            "error": "ValueError('Autoscale not enabled')"
        }
        assert "not enabled" in control(app, "pool_restart")["error"]
    with start_worker(app, autoscale=(4, 1)) as worker:
        assert worker.pool is not None and worker.pool.limit == 1
        assert worker.consumer is not None and worker.autoscaler in worker.consumer.hooks
        assert "not supported with autoscale" in control(app, "pool_grow")["error"]
        assert control(app, "autoscale", max=3, min=2) == {"ok": "autoscale now max=3 min=2"}
        assert worker.pool.limit == 2
        stats = app.control.inspect(timeout=2, limit=1).stats()
        assert next(iter(stats.values()))["autoscaler"]["max"] == 3


def test_pool_restart_reloads_when_enabled(app: Celery) -> None:
    app.conf.worker_pool_restarts = True
    with start_worker(app):
        assert control(app, "pool_restart", modules=["json"], reload=True) == {
            "ok": "reload started"
        }


def test_revoke_terminate_stops_a_running_task_in_a_thread(app: Celery) -> None:
    started = threading.Event()

    @app.task
    def spin() -> str:
        started.set()
        for _ in range(500):  # Python code runs between short sleeps: it can be stopped
            time.sleep(0.01)
        return "finished"

    result = spin.delay()
    with start_worker(app, concurrency=2, task_events=True):
        assert started.wait(5)
        reply = control(app, "revoke", task_id=result.id, terminate=True, signal="SIGKILL")
        assert reply == {"ok": f"terminate: {result.id}"}
        assert wait_until(lambda: result.state == states.REVOKED, timeout=5)
        assert result.result is not None
        assert control(app, "terminate", signal="TERM", task_id="unknown-id") == {
            "ok": "terminate: tasks unknown"
        }
        assert app.broker.size("celery") == 0


def test_autoretry_backs_off_and_ends_with_the_error(app: Celery) -> None:
    attempts: list[tuple[int, float]] = []

    @app.task(
        bind=True,
        autoretry_for=(KeyError,),
        retry_backoff=True,
        retry_backoff_max=1,
        retry_jitter=False,
        max_retries=2,
    )
    def flaky(self: Any) -> None:
        attempts.append((self.request.retries, time.monotonic()))
        raise KeyError("missing")

    result = flaky.delay()
    with start_worker(app), pytest.raises(KeyError):
        result.get(timeout=10)
    assert [retries for retries, _ in attempts] == [0, 1, 2]
    assert result.state == states.FAILURE


def test_retry_without_exc_ends_in_max_retries_exceeded(app: Celery) -> None:
    seen: list[str] = []

    @app.task(bind=True, max_retries=1, default_retry_delay=0)
    def again(self: Any) -> None:
        seen.append(self.backend.get_task_meta(self.request.id)["status"])
        raise self.retry()

    result = again.delay()
    with start_worker(app), pytest.raises(MaxRetriesExceededError):
        result.get(timeout=10)
    assert seen == [states.PENDING, states.RETRY]


def test_dont_autoretry_for_wins(app: Celery) -> None:
    @app.task(autoretry_for=(LookupError,), dont_autoretry_for=(KeyError,))
    def picky() -> None:
        raise KeyError("not retried")

    result = picky.delay()
    with start_worker(app), pytest.raises(KeyError):
        result.get(timeout=5)
    assert result.state == states.FAILURE


def test_backoff_interval_is_celerys() -> None:
    assert [backoff_interval(1, n, 600) for n in range(5)] == [1, 2, 4, 8, 16]
    assert backoff_interval(3, 10, 600) == 600
    assert backoff_interval(2, 2, 600, full_jitter=True, randrange=lambda n: n - 1) == 8


def test_statedb_keeps_revokes_and_clock_across_restarts(app: Celery, tmp_path: Path) -> None:
    statedb = str(tmp_path / "%n.state")
    with start_worker(app, hostname="w1@box", statedb=statedb) as worker:
        control(app, "revoke", task_id="gone-1")
        clock = worker.clock
    assert (tmp_path / "w1.state").exists()
    with start_worker(app, hostname="w1@box", statedb=statedb) as worker:
        assert "gone-1" in worker.revoked
        assert worker.clock >= clock


def test_mingle_merges_revoked_ids_and_clock(app: Celery) -> None:
    with start_worker(app, hostname="w1@box") as first:
        first.revoke(["from-w1"])
        first.clock = 100
        with start_worker(app, hostname="w2@box", mingle=True) as second:
            assert "from-w1" in second.revoked
            assert second.clock > 100


def test_reject_without_requeue_records_failure(app: Celery) -> None:
    from celeriac.exceptions import Reject

    @app.task(acks_late=True)
    def refuse() -> None:
        raise Reject("never", requeue=False)

    result = refuse.delay()
    with start_worker(app):
        assert wait_until(lambda: result.state == states.FAILURE, timeout=5)
        assert wait_until(lambda: app.broker.size("celery") == 0)
    assert isinstance(result.result, Reject)


def test_hello_merges_both_revoked_forms_and_answers_with_ours(app: Celery) -> None:
    with start_worker(app, hostname="w1@box") as worker:
        worker.revoke(["ours"])
        reply = control(app, "hello", from_node="old@box", revoked={"a": 12.5, "b": 99.0})
        assert reply["revoked"][-2:] == ["a", "b"] and "ours" in reply["revoked"]
        assert isinstance(reply["clock"], int)
        control(app, "hello", from_node="new@box", revoked=["c"])
        assert {"a", "b", "c", "ours"} <= set(worker.revoked)
        assert control(app, "ping") == {"ok": "pong"}  # hello to itself is not answered:
        replies = app.control.broadcast(
            "hello", arguments={"from_node": "w1@box"}, reply=True, timeout=0.5
        )
        assert replies == []
