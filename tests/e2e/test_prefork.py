"""The prefork pool with real worker processes: children, supervision, limits."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.exceptions import TimeLimitExceeded, WorkerLostError
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

POOL_TASKS = Path(__file__).with_name("pool_tasks.py")


@pytest.fixture
def tasks(project_dir: Path) -> ModuleType:
    shutil.copy(POOL_TASKS, project_dir / "proj" / "pooltasks.py")
    return importlib.import_module("proj.pooltasks")


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (forked by any of its threads)."""
    found: set[int] = set()
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in threads:
        try:
            found.update(
                int(p) for p in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            )
        except FileNotFoundError:
            continue
    return found


def pool_children(worker_pid: int) -> set[int]:
    """The pool's children: forked by the worker's fork server, its only child."""
    return {pid for server in children(worker_pid) for pid in children(server)}


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def start(start_worker: Any, *args: str) -> Any:
    return start_worker("-I", "proj.pooltasks", *args)


def test_prefork_is_the_default_and_runs_tasks_in_children(
    tasks: ModuleType, start_worker: Any
) -> None:
    worker = start(start_worker, "-c", "2")
    assert "(prefork)" in worker.output
    assert wait_until(lambda: len(pool_children(worker.process.pid)) == 2)
    pids = {r.get(timeout=10) for r in [tasks.pid.delay() for _ in range(20)]}
    assert pids <= pool_children(worker.process.pid)
    assert worker.process.pid not in pids
    assert any("ForkPoolWorker-" in line for line in worker.lines)


def test_processes_alias_and_solo_and_threads_still_work(
    tasks: ModuleType, start_worker: Any
) -> None:
    for pool in ("processes", "threads", "solo"):
        worker = start(start_worker, "-P", pool, "-c", "2")
        expected = "prefork" if pool == "processes" else pool
        assert f"({expected})" in worker.output
        assert tasks.pid.delay().get(timeout=10) > 0
        assert worker.stop() == 0


def test_child_killed_mid_task_is_recorded_and_replaced(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, "-c", "2")
    marker = project_dir / "started"
    res = tasks.sleeper.delay(30, str(marker))
    assert wait_until(lambda: marker.exists() and bool(marker.read_text()))
    victim = int(marker.read_text())
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(WorkerLostError, match="signal 9"):
        res.get(timeout=10)
    assert res.state == "FAILURE"
    assert wait_until(lambda: len(pool_children(worker.process.pid)) == 2)
    assert victim not in pool_children(worker.process.pid)
    assert tasks.pid.delay().get(timeout=10) != victim
    assert worker.wait_for_line("exited with 'signal 9 (SIGKILL)'")


def test_lost_task_is_requeued_with_reject_on_worker_lost(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start(start_worker, "-c", "1")
    res = tasks.dies_once.delay(str(project_dir / "died"))
    assert res.get(timeout=15) == "second delivery"


def test_hard_time_limit_kills_and_replaces_the_child(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, "-c", "1")
    marker = project_dir / "started"
    res = tasks.too_slow.delay(str(marker))  # time_limit=0.5 on the task
    with pytest.raises(TimeLimitExceeded):
        res.get(timeout=10)
    victim = int(marker.read_text())
    assert wait_until(lambda: not is_alive(victim))
    assert wait_until(lambda: len(pool_children(worker.process.pid)) == 1)
    assert tasks.pid.delay().get(timeout=10) != victim
    assert worker.wait_for_line("Hard time limit (0.5s) exceeded")


def test_worker_hard_time_limit_option(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start(start_worker, "-c", "1", "--time-limit", "0.3")
    with pytest.raises(TimeLimitExceeded):
        tasks.sleeper.delay(30, str(project_dir / "m")).get(timeout=10)


def test_soft_time_limit_raises_inside_the_task(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, "-c", "1", "--soft-time-limit", "0.2")
    res = tasks.soft_limited.delay(str(project_dir / "a"))
    assert res.get(timeout=10) == "cleaned up"
    # The header's limit wins over the worker's: 0.1 s here, not 0.2 s.
    res = tasks.soft_limited.apply_async((str(project_dir / "b"),), soft_time_limit=0.1)
    assert res.get(timeout=10) == "cleaned up"
    assert worker.wait_for_line("Soft time limit (0.1s) exceeded")


def test_max_tasks_per_child_replaces_children(tasks: ModuleType, start_worker: Any) -> None:
    start(start_worker, "-c", "1", "--max-tasks-per-child", "2")
    pids = [tasks.pid.delay().get(timeout=10) for _ in range(6)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]
    assert len(set(pids)) == 3


def test_max_memory_per_child_replaces_the_child_after_the_task(
    tasks: ModuleType, start_worker: Any
) -> None:
    start(start_worker, "-c", "1", "--max-memory-per-child", "100000")
    first = tasks.pid.delay().get(timeout=10)
    assert tasks.pid.delay().get(timeout=10) == first  # under the limit: kept
    assert tasks.hog.delay(150_000).get(timeout=10) == first  # the task completes
    assert tasks.pid.delay().get(timeout=10) != first  # then the child is replaced


def test_children_exit_when_the_worker_is_killed(tasks: ModuleType, start_worker: Any) -> None:
    worker = start(start_worker, "-c", "2")
    assert wait_until(lambda: len(pool_children(worker.process.pid)) == 2)
    pids = pool_children(worker.process.pid) | children(worker.process.pid)
    tasks.sleeper.delay(30, "/dev/null")  # one child busy, one idle
    worker.kill()
    assert wait_until(lambda: not any(is_alive(p) for p in pids))


def test_fair_scheduling_and_disabled_prefetch(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, "-c", "2", "-O", "fair", "--disable-prefetch")
    marker = project_dir / "long"
    long = tasks.sleeper.delay(30, str(marker))
    assert wait_until(marker.exists)
    # The other child takes every short task while the long one runs.
    assert [tasks.pid.delay().get(timeout=10) for _ in range(5)]
    assert long.state == "PENDING"
    from proj.celeriac import app

    blockers = [tasks.sleeper.delay(30, str(project_dir / f"b{i}")) for i in range(3)]
    assert wait_until((project_dir / "b0").exists)
    # Both children busy and nothing reserved: the other two stay in the broker.
    assert wait_until(lambda: app.broker.size("celery") == 2)
    assert all(b.state == "PENDING" for b in blockers)
    worker.stop(signal.SIGQUIT)


def test_custom_pool_from_the_environment(tasks: ModuleType, start_worker: Any) -> None:
    worker = start_worker(
        "-I",
        "proj.pooltasks",
        "-P",
        "custom",
        env={"CELERY_CUSTOM_WORKER_POOL": "celeriac.pools.solo:SoloPool"},
    )
    assert "(solo)" in worker.output
    assert tasks.pid.delay().get(timeout=10) == worker.process.pid
