"""The prefork pool after its fork server died: lost jobs are reported, stop returns."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from celeriac.exceptions import WorkerLostError
from celeriac.pools.prefork import PreforkPool
from tests.e2e.wait import wait_until
from tests.unit.pools.test_pool_control import busy
from tests.unit.pools.test_pools import Results


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def is_gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts: it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def test_losing_the_fork_server_fails_running_and_waiting_jobs_and_stop_returns() -> None:
    pool = PreforkPool(concurrency=1, target=busy)
    pool.start()
    results = Results()
    running = pool.submit(("spin", 30), results)
    assert running is not None
    assert wait_until(lambda: pool.job_pid(running) is not None)
    child = pool.job_pid(running)
    assert child is not None
    pool.submit(("value", "never runs"), results)  # waits for a child that never comes
    server = parent_of(child)
    assert server != os.getpid()
    os.kill(server, signal.SIGKILL)
    reports = results.wait(2)
    assert all(value is None and isinstance(error, WorkerLostError) for value, error in reports)
    assert pool.limit == 0  # nothing can run here any more: the worker takes no more work
    stopper = threading.Thread(target=pool.stop, kwargs={"wait": True}, daemon=True)
    stopper.start()
    stopper.join(20)
    assert not stopper.is_alive(), "a warm stop hung after the fork server was lost"
    assert wait_until(lambda: is_gone(child))
