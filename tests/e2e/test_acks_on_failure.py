"""``task_acks_on_failure_or_timeout`` with ``acks_late`` tasks, in a real worker."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.exceptions import TimeLimitExceeded

pytestmark = pytest.mark.e2e

TASKS = """
import time
from pathlib import Path

from .celeriac import app

app.conf.task_acks_on_failure_or_timeout = {value}


def count_run(marker):
    path = Path(marker)
    runs = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(runs))
    return runs


@app.task(acks_late=True)
def fails(marker):
    count_run(marker)
    raise ValueError("boom")


@app.task(acks_late=True, time_limit=0.5)
def times_out_once(marker):
    if count_run(marker) == 1:
        time.sleep(30)
    return "second run"
"""


def install(project_dir: Path, value: bool) -> ModuleType:
    (project_dir / "proj" / "ackstasks.py").write_text(TASKS.format(value=value))
    return importlib.import_module("proj.ackstasks")


def test_true_acks_a_failed_and_a_timed_out_task(start_worker: Any, project_dir: Path) -> None:
    tasks = install(project_dir, True)
    worker = start_worker("-I", "proj.ackstasks", "-P", "prefork", "-c", "1")
    failed, slow = project_dir / "failed", project_dir / "slow"
    with pytest.raises(ValueError, match="boom"):
        tasks.fails.delay(str(failed)).get(timeout=10)
    with pytest.raises(TimeLimitExceeded):
        tasks.times_out_once.delay(str(slow)).get(timeout=10)
    assert worker.stop() == 0  # warm: a requeued message would be back in the queue now
    assert failed.read_text() == "1" and slow.read_text() == "1"
    assert tasks.app.broker.size("celery") == 0


def test_false_rejects_a_failed_task_and_requeues_a_timed_out_one(
    start_worker: Any, project_dir: Path
) -> None:
    tasks = install(project_dir, False)
    worker = start_worker("-I", "proj.ackstasks", "-P", "prefork", "-c", "1")
    failed, slow = project_dir / "failed", project_dir / "slow"
    with pytest.raises(ValueError, match="boom"):
        tasks.fails.delay(str(failed)).get(timeout=10)
    # Requeued after its timeout (no FAILURE stored), it runs again and succeeds.
    assert tasks.times_out_once.delay(str(slow)).get(timeout=20) == "second run"
    assert worker.wait_for_line("exceeded for proj.ackstasks.times_out_once")
    assert "requeued" in worker.output
    assert worker.stop() == 0
    # Rejected without requeue: gone (RabbitMQ would dead-letter it), not run again.
    assert failed.read_text() == "1" and slow.read_text() == "2"
    assert tasks.app.broker.size("celery") == 0
