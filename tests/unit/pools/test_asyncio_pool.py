"""The asyncio pool on its own: jobs as tasks on the running loop, numbered, terminable."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from celeriac._internal.interrupts import CURRENT_SCOPE
from celeriac.exceptions import SoftTimeLimitExceeded, TaskRevokedError
from celeriac.pools.asyncio import AsyncioPool


async def _guarded(payload: Any) -> Any:
    scope = CURRENT_SCOPE.get()
    assert scope is not None
    return await scope.guard(_body(payload))


async def _body(payload: Any) -> Any:
    if payload == "forever":
        await asyncio.sleep(30)
    if payload == "soft":
        try:
            await asyncio.sleep(30)
        except SoftTimeLimitExceeded as exc:
            return f"soft {exc.limit}"
    return payload


async def _run_jobs(pool: AsyncioPool, *jobs: tuple[Any, float | None]) -> list[Any]:
    pool.start()
    loop = asyncio.get_running_loop()
    done: list[asyncio.Future[tuple[Any, BaseException | None]]] = []
    for payload, soft in jobs:
        future: asyncio.Future[tuple[Any, BaseException | None]] = loop.create_future()
        done.append(future)

        def report(value: Any, error: BaseException | None, future: Any = future) -> None:
            future.set_result((value, error))

        pool.submit(payload, report, soft_time_limit=soft)
    return [await future for future in done]


def test_start_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="running loop"):
        AsyncioPool(concurrency=1, target=_guarded).start()


def test_jobs_run_and_soft_limits_reach_the_coroutine() -> None:
    pool = AsyncioPool(concurrency=10, target=_guarded)
    outcomes = asyncio.run(_run_jobs(pool, ("a", None), ("soft", 0.05)))
    assert outcomes == [("a", None), ("soft 0.05", None)]


def test_terminate_job_by_number() -> None:
    async def scenario() -> tuple[Any, BaseException | None, int | None, bool]:
        pool = AsyncioPool(concurrency=2, target=_guarded)
        pool.start()
        reported: asyncio.Future[tuple[Any, BaseException | None]] = (
            asyncio.get_running_loop().create_future()
        )
        number = pool.submit("forever", lambda v, e: reported.set_result((v, e)))
        assert number is not None
        await asyncio.sleep(0)  # let it reach its await
        pid = pool.job_pid(number)
        stopped = pool.terminate_job(number, 15)
        value, error = await reported
        return value, error, pid, stopped and not pool.terminate_job(number, 15)

    value, error, pid, stopped = asyncio.run(scenario())
    assert value is None
    assert isinstance(error, TaskRevokedError)
    assert pid == os.getpid()
    assert stopped


def test_resize_changes_the_bound() -> None:
    pool = AsyncioPool(concurrency=2, target=_guarded)
    pool.resize(1000)
    assert pool.limit == 1000
    with pytest.raises(ValueError, match="at least 1"):
        pool.resize(0)
