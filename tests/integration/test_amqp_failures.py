"""RabbitMQ semantics a worker must keep: priorities, and redelivery after a kill."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.wait import wait_until
from tests.integration import _amqp_env

pytestmark = [pytest.mark.amqp, pytest.mark.e2e]
make_env = _amqp_env.make_env  # the fixture


@pytest.mark.parametrize("worker", ["celeriac", "celery"])
def test_higher_priority_runs_first(make_env: Any, tmp_path: Path, worker: str) -> None:
    env = make_env("rpc://")
    cel = env.module("cel_tasks")
    log = tmp_path / "order.txt"
    priorities = [0, 3, 9, 1, 7, 5]
    results = [cel.record.apply_async((str(log), p), priority=p) for p in priorities]
    if worker == "celeriac":
        env.celeriac_worker("-c", "1", "--prefetch-multiplier", "1")
    else:
        # Not -P solo: kombu 5.7's hub runs a callback that its own loop thread schedules
        # only after the next poll, which can sleep 10 s. A solo worker runs the task, and
        # schedules its ack, inside such a callback, so with a prefetch of 1 RabbitMQ holds
        # the next message back for up to 10 s per task. A pool thread's ack wakes the hub.
        env.celery_worker("--prefetch-multiplier", "1", pool="threads")
    for result in results:
        result.get(timeout=20)
    ran = [int(line) for line in log.read_text().split()]
    assert ran == sorted(priorities, reverse=True)


def test_killed_worker_late_acked_task_is_redelivered(make_env: Any, tmp_path: Path) -> None:
    env = make_env("rpc://")
    cel = env.module("cel_tasks")
    marker = tmp_path / "runs.txt"
    result = cel.slow.delay(str(marker), "done")
    first = env.celeriac_worker("-c", "1")
    assert wait_until(lambda: marker.exists() and marker.read_text().strip() != "", 20)
    first.stop(signal.SIGKILL)
    env.celeriac_worker("-c", "1")
    assert result.get(timeout=30) == "done"
    assert len(marker.read_text().split()) == 2  # ran again after the kill
