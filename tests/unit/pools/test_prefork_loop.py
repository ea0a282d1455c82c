"""The prefork pool started on a running event loop reads its children on that loop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

from celeriac.exceptions import TimeLimitExceeded, WorkerLostError
from celeriac.pools.base import PoolOptions
from celeriac.pools.prefork import PreforkPool
from tests.unit.pools.test_pool_control import busy
from tests.unit.pools.test_pools import work
from tests.unit.pools.test_prefork_server_loss import parent_of


class LoopResults:
    """Outcomes as ``on_done`` delivered them, with the thread that delivered each."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, BaseException | None, int]] = []
        self.changed = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def __call__(self, value: Any, error: BaseException | None) -> None:
        self.items.append((value, error, threading.get_ident()))
        self.loop.call_soon_threadsafe(self.changed.set)  # some come from other threads

    async def wait(self, count: int) -> list[tuple[Any, BaseException | None, int]]:
        async with asyncio.timeout(20):
            while len(self.items) < count:
                self.changed.clear()
                await self.changed.wait()
        return list(self.items)


def run(scenario: Any) -> Any:
    return asyncio.run(scenario())


def test_outcomes_arrive_on_the_loop_thread() -> None:
    async def scenario() -> None:
        pool = PreforkPool(concurrency=2, target=work)
        pool.start()
        try:
            results = LoopResults()
            for n in range(20):
                pool.submit(("value", n), results)
            items = await results.wait(20)
            assert sorted(value for value, _, _ in items) == list(range(20))
            assert {thread for _, _, thread in items} == {threading.get_ident()}
            assert all(error is None for _, error, _ in items)
        finally:
            pool.stop(wait=True)

    run(scenario)


def test_a_dead_child_reports_its_job_lost_on_the_loop_and_is_replaced() -> None:
    async def scenario() -> None:
        pool = PreforkPool(concurrency=1, target=work)
        pool.start()
        try:
            results = LoopResults()
            pool.submit(("pid", None), results)
            first_pid = (await results.wait(1))[0][0]
            pool.submit(("exit", 3), results)
            _, error, thread = (await results.wait(2))[1]
            assert isinstance(error, WorkerLostError)
            assert "exitcode 3" in str(error)
            assert thread == threading.get_ident()
            pool.submit(("pid", None), results)
            second_pid = (await results.wait(3))[2][0]
            assert second_pid != first_pid
        finally:
            pool.stop(wait=True)

    run(scenario)


def test_hard_time_limit_and_retirement_on_the_loop() -> None:
    async def scenario() -> None:
        pool = PreforkPool(concurrency=1, target=work, options=PoolOptions(max_tasks_per_child=1))
        pool.start()
        try:
            results = LoopResults()
            pool.submit(("pid", None), results)
            pool.submit(("pid", None), results)
            (first, _, _), (second, _, _) = await results.wait(2)
            assert first != second  # one job per child
            pool.submit(("sleep", 30), results, time_limit=0.2)
            _, error, _ = (await results.wait(3))[2]
            assert isinstance(error, TimeLimitExceeded)
        finally:
            pool.stop(wait=True)

    run(scenario)


def test_stop_from_another_thread_while_the_loop_runs() -> None:
    async def scenario() -> None:
        pool = PreforkPool(concurrency=2, target=work)
        pool.start()
        results = LoopResults()
        pool.submit(("value", 1), results)
        await results.wait(1)
        await asyncio.to_thread(pool.stop, wait=True)
        assert pool.info()["processes"] == []

    run(scenario)


def test_losing_the_fork_server_reports_jobs_on_the_loop() -> None:
    async def scenario() -> None:
        pool = PreforkPool(concurrency=1, target=busy)
        pool.start()
        try:
            results = LoopResults()
            running = pool.submit(("spin", 30), results)
            assert running is not None
            child = pool.job_pid(running)  # written to the child at once
            assert child is not None
            pool.submit(("value", "never runs"), results)  # no child will take it
            os.kill(parent_of(child), signal.SIGKILL)
            items = await results.wait(2)
            assert all(isinstance(error, WorkerLostError) for _, error, _ in items)
            # The running job's child died with the server: its socket's end of file is
            # its exit, read on the loop.
            assert threading.get_ident() in {thread for _, _, thread in items}
        finally:
            await asyncio.to_thread(pool.stop, wait=True)

    run(scenario)
