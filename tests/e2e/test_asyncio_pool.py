"""``async def`` tasks in real worker processes: ``-P asyncio``, and under prefork."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.exceptions import TaskRevokedError, TimeLimitExceeded
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

ASYNC_TASKS = Path(__file__).with_name("async_tasks.py")


@pytest.fixture
def tasks(project_dir: Path) -> ModuleType:
    shutil.copy(ASYNC_TASKS, project_dir / "proj" / "asynctasks.py")
    return importlib.import_module("proj.asynctasks")


def start(start_worker: Any, *args: str) -> Any:
    return start_worker("-I", "proj.asynctasks", *args)


def test_asyncio_pool_runs_async_and_sync_tasks_in_the_worker(
    tasks: ModuleType, start_worker: Any
) -> None:
    worker = start(start_worker, "-P", "asyncio", "-c", "200")
    assert "(asyncio)" in worker.output
    results = [tasks.nap.delay(0.05, i) for i in range(200)]
    assert [r.get(timeout=30) for r in results] == list(range(200))
    assert tasks.sync_pid.delay().get(timeout=10) == worker.process.pid
    pid, _ = tasks.where.delay().get(timeout=10)
    assert pid == worker.process.pid
    assert worker.stop() == 0


def test_asyncio_pool_time_limits(tasks: ModuleType, start_worker: Any) -> None:
    start(start_worker, "-P", "asyncio", "-c", "10", "--soft-time-limit", "0.2")
    assert tasks.soft_limited.delay().get(timeout=10) == "cleaned up"
    with pytest.raises(TimeLimitExceeded):
        tasks.too_slow.delay().get(timeout=10)
    assert tasks.nap.delay(0, "alive").get(timeout=10) == "alive"


def test_prefork_child_runs_async_tasks_on_its_own_loop(
    tasks: ModuleType, start_worker: Any
) -> None:
    worker = start(start_worker, "-P", "prefork", "-c", "1", "--soft-time-limit", "0.3")
    first = tasks.where.delay().get(timeout=10)
    second = tasks.where.delay().get(timeout=10)
    assert first == second  # same child, same loop, kept between tasks
    assert first[0] != worker.process.pid
    assert tasks.soft_limited.delay().get(timeout=10) == "cleaned up"
    assert tasks.where.delay().get(timeout=10) == first  # the loop survived the limit


def test_revoke_terminate_cancels_a_running_coroutine(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start(start_worker, "-P", "asyncio", "-c", "10")
    marker = project_dir / "forever"
    result = tasks.forever.delay(str(marker))
    assert wait_until(lambda: marker.exists() and marker.read_text() == "started")
    result.revoke(terminate=True)
    with pytest.raises(TaskRevokedError):
        result.get(timeout=10)
    assert wait_until(lambda: marker.read_text() == "cancelled")
    assert tasks.nap.delay(0, "alive").get(timeout=10) == "alive"
