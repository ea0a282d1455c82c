"""``async def`` tasks: on a per-thread loop under threads/solo, and under ``-P asyncio``."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import Reject, SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded
from celeriac.pools import asyncio as asyncio_pool
from celeriac.pools.asyncio import AsyncioPool
from celeriac.testing.worker import start_worker
from tests.e2e.wait import wait_until


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"async-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


# -- per-thread loops (threads, solo, eager) ---------------------------------------------


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_async_task_runs_under_a_sync_pool(app: Celery, pool: str) -> None:
    @app.task
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    with start_worker(app, pool=pool, concurrency=2):
        assert [double.delay(i).get(timeout=5) for i in range(5)] == [0, 2, 4, 6, 8]


def test_each_pool_thread_reuses_its_own_loop(app: Celery) -> None:
    seen: list[tuple[int, int]] = []

    @app.task
    async def which_loop() -> None:
        seen.append((threading.get_ident(), id(asyncio.get_running_loop())))

    with start_worker(app, pool="threads", concurrency=1):
        for _ in range(3):
            which_loop.delay().get(timeout=5)
    assert len(set(seen)) == 1  # one thread, one loop, kept between tasks


def test_async_task_sees_its_request(app: Celery) -> None:
    @app.task(bind=True)
    async def whoami(self: Any) -> str:
        await asyncio.sleep(0)
        return str(self.request.id)

    with start_worker(app, pool="threads"):
        result = whoami.delay()
        assert result.get(timeout=5) == result.id


def test_async_task_failure_is_stored(app: Celery) -> None:
    @app.task
    async def broken() -> None:
        await asyncio.sleep(0)
        raise ValueError("nope")

    with start_worker(app, pool="threads"):
        result = broken.delay()
        with pytest.raises(ValueError, match="nope"):
            result.get(timeout=5)
    assert result.state == states.FAILURE


def test_apply_runs_an_async_task_eagerly_even_inside_a_running_loop(app: Celery) -> None:
    @app.task
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert double.apply((2,)).get() == 4

    async def from_async_code() -> int:
        value: int = double.apply((3,)).get()
        return value

    assert asyncio.run(from_async_code()) == 6


# -- the asyncio pool ------------------------------------------------------------------------


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Inside a task: wait (without blocking the loop) until ``condition()`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_asyncio_pool_runs_async_tasks_on_the_worker_loop(app: Celery) -> None:
    loops: list[int] = []

    @app.task
    async def double(x: int) -> int:
        loops.append(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)
        return x * 2

    with start_worker(app, pool="asyncio", concurrency=10) as worker:
        assert worker.pool is not None and worker.pool.name == "asyncio"
        assert [double.delay(i).get(timeout=5) for i in range(5)] == [0, 2, 4, 6, 8]
    assert len(set(loops)) == 1


def test_asyncio_pool_runs_sync_tasks_in_threads(app: Celery) -> None:
    @app.task
    def where() -> str:
        return threading.current_thread().name

    with start_worker(app, pool="asyncio", concurrency=4):
        assert where.delay().get(timeout=5) != "celeriac-test-worker"  # not the loop's thread


def test_many_coroutines_wait_at_once(app: Celery) -> None:
    arrived: list[int] = []

    @app.task
    async def rendezvous(i: int) -> int:
        arrived.append(i)
        await until(lambda: len(arrived) == 50)  # every one is waiting at the same time
        return i

    with start_worker(app, pool="asyncio", concurrency=50):
        results = [rendezvous.delay(i) for i in range(50)]
        assert sorted(r.get(timeout=10) for r in results) == list(range(50))


def test_concurrency_bounds_coroutines_in_flight(app: Celery) -> None:
    release = threading.Event()
    in_flight: list[int] = []
    most: list[int] = [0]

    @app.task
    async def hold(i: int) -> int:
        in_flight.append(i)
        most[0] = max(most[0], len(in_flight))
        await until(release.is_set)
        in_flight.remove(i)
        return i

    with start_worker(app, pool="asyncio", concurrency=2, prefetch_multiplier=1):
        results = [hold.delay(i) for i in range(5)]
        assert wait_until(lambda: len(in_flight) == 2)
        release.set()
        assert sorted(r.get(timeout=5) for r in results) == list(range(5))
    assert most[0] == 2


def test_the_loop_stays_free_while_coroutines_wait(app: Celery) -> None:
    release = threading.Event()

    @app.task
    async def slow() -> str:
        await until(release.is_set, timeout=10)
        return "slow"

    @app.task
    async def quick() -> str:
        return "quick"

    with start_worker(app, pool="asyncio", concurrency=4):
        waiting = slow.delay()
        assert quick.delay().get(timeout=5) == "quick"  # while slow() still waits
        assert not waiting.ready()
        release.set()
        assert waiting.get(timeout=5) == "slow"


def test_soft_time_limit_is_raised_inside_the_coroutine(app: Celery) -> None:
    @app.task(soft_time_limit=0.1)
    async def limited() -> str:
        try:
            await asyncio.sleep(30)
        except SoftTimeLimitExceeded:
            await asyncio.sleep(0)  # it may still await while cleaning up
            return "cleaned up"
        return "not interrupted"

    with start_worker(app, pool="asyncio", concurrency=2):
        assert limited.delay().get(timeout=5) == "cleaned up"


def test_hard_time_limit_cancels_the_coroutine(app: Celery) -> None:
    cancelled = threading.Event()

    @app.task(time_limit=0.1)
    async def stuck() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with start_worker(app, pool="asyncio", concurrency=2):
        result = stuck.delay()
        with pytest.raises(TimeLimitExceeded):
            result.get(timeout=5)
        assert cancelled.is_set()
    assert result.state == states.FAILURE


def test_a_coroutine_that_ignores_the_hard_limit_is_abandoned(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asyncio_pool, "UNWIND_GRACE", 0.05)
    release = threading.Event()

    @app.task(time_limit=0.1)
    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    with start_worker(app, pool="asyncio", concurrency=2):
        result = stubborn.delay()
        with pytest.raises(TimeLimitExceeded):
            result.get(timeout=5)
        release.set()


def test_terminate_cancels_a_running_coroutine(app: Celery) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    @app.task
    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @app.task
    async def bystander() -> str:
        return "still here"

    with start_worker(app, pool="asyncio", concurrency=4) as worker:
        result = forever.delay()
        assert started.wait(5)
        assert isinstance(worker.pool, AsyncioPool)
        assert worker.pool.terminate(result.id)
        with pytest.raises(TaskRevokedError):
            result.get(timeout=5)
        assert cancelled.is_set()
        assert result.state == states.REVOKED
        assert not worker.pool.terminate(result.id)  # nothing left to terminate
        assert bystander.delay().get(timeout=5) == "still here"


@pytest.mark.parametrize("pool", ["asyncio", "threads"])
def test_retry_sends_an_async_task_again(app: Celery, pool: str) -> None:
    @app.task(bind=True, max_retries=3)
    async def flaky(self: Any) -> int:
        await asyncio.sleep(0)
        if self.request.retries < 2:
            raise self.retry(countdown=0)
        return int(self.request.retries)

    with start_worker(app, pool=pool, concurrency=2):
        assert flaky.delay().get(timeout=10) == 2


def test_eta_holds_an_async_task_until_due(app: Celery) -> None:
    @app.task
    async def later() -> str:
        return "done"

    with start_worker(app, pool="asyncio", concurrency=2):
        result = later.apply_async(countdown=0.2)
        assert result.get(timeout=5) == "done"


def test_acks_late_keeps_an_async_task_leased_until_done(app: Celery) -> None:
    release = threading.Event()
    started = threading.Event()

    @app.task(acks_late=True)
    async def late() -> str:
        started.set()
        await until(release.is_set)
        return "done"

    with start_worker(app, pool="asyncio", concurrency=2):
        result = late.delay()
        assert started.wait(5)
        assert app.broker.size("celery") == 0  # leased, not ready, not acked
        release.set()
        assert result.get(timeout=5) == "done"


def test_reject_requeue_redelivers_an_async_task(app: Celery) -> None:
    attempts: list[bool] = []

    @app.task(bind=True, acks_late=True)
    async def picky(self: Any) -> int:
        attempts.append(self.request.delivery_info["redelivered"])
        if len(attempts) == 1:
            raise Reject("not yet", requeue=True)
        return len(attempts)

    with start_worker(app, pool="asyncio", concurrency=2):
        assert picky.delay().get(timeout=5) == 2
    assert attempts == [False, True]


def test_an_async_errback_is_awaited(app: Celery) -> None:
    seen: list[str] = []

    @app.task
    async def on_error(request: Any, exc: BaseException, traceback: str) -> None:
        await asyncio.sleep(0)
        seen.append(f"{request.id}: {exc}")

    @app.task
    async def broken() -> None:
        raise ValueError("bad")

    with start_worker(app, pool="asyncio", concurrency=2):
        result = broken.apply_async(link_error=on_error.s())
        with pytest.raises(ValueError, match="bad"):
            result.get(timeout=5)
        assert wait_until(lambda: seen == [f"{result.id}: bad"])


def test_revoke_terminate_cancels_a_running_coroutine(app: Celery) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    @app.task
    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with start_worker(app, pool="asyncio", concurrency=4):
        result = forever.delay()
        assert started.wait(5)
        result.revoke(terminate=True)
        with pytest.raises(TaskRevokedError):
            result.get(timeout=5)
        assert wait_until(cancelled.is_set)  # REVOKED may be stored before it unwinds
        assert result.state == states.REVOKED
