"""Child process death: the prefork pool stays at size and keeps serving.

``CELERIAC_RELIABILITY_CHILD_TASKS`` tasks (default 1,000, the issue's number); every 20th calls
``os._exit`` in its pool child (5%). Each crash is a FAILURE (``WorkerLostError``),
every other task a SUCCESS, and the pool is back to its size at the end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from tests.e2e.wait import wait_until
from tests.reliability._env import report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(180)]

TASKS = int(os.environ.get("CELERIAC_RELIABILITY_CHILD_TASKS", "1000"))
CONCURRENCY = 3
PATIENCE = 90.0


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def test_pool_survives_crashing_children(make_env: Any) -> None:
    env = make_env(f"sqlite:///{os.getcwd()}/broker.sqlite3")
    module = env.module()
    worker = env.worker("-P", "prefork", "-c", str(CONCURRENCY))
    assert worker.process is not None
    started = time.monotonic()
    results = [module.crashy.delay(n, n % 20 == 19) for n in range(TASKS)]
    backend = module.app.backend

    def finished() -> bool:
        return all(backend.get_task_meta(r.id)["status"] in states.READY_STATES for r in results)

    assert wait_until(finished, PATIENCE, step=0.5), worker.output[-3000:]
    metas = [backend.get_task_meta(r.id) for r in results]
    crashed = [m for n, m in enumerate(metas) if n % 20 == 19]
    served = [m for n, m in enumerate(metas) if n % 20 != 19]
    assert all(m["status"] == states.SUCCESS for m in served)
    assert all(m["status"] == states.FAILURE for m in crashed)
    assert all(type(m["result"]).__name__ == "WorkerLostError" for m in crashed)
    # The fork server plus CONCURRENCY children, replacements included.
    assert wait_until(lambda: len(_children(worker.process.pid)) == CONCURRENCY + 1, 10)
    assert worker.process.poll() is None
    assert module.work.delay(1).get(timeout=30) == 1
    report(
        "child_death_prefork",
        {
            "tasks": TASKS,
            "children_killed": len(crashed),
            "distinct_child_pids": len({m["result"] for m in served}),
            "pool_size_at_end": len(_children(worker.process.pid)) - 1,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
