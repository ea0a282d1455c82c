"""A worker whose prefork fork server was killed still shuts down warm, losing nothing."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.exceptions import WorkerLostError
from tests.e2e.wait import wait_until
from tests.unit.pools.test_prefork_server_loss import is_gone, parent_of

pytestmark = pytest.mark.e2e

POOL_TASKS = Path(__file__).with_name("pool_tasks.py")


@pytest.fixture
def tasks(project_dir: Path) -> ModuleType:
    shutil.copy(POOL_TASKS, project_dir / "proj" / "pooltasks.py")
    return importlib.import_module("proj.pooltasks")


def test_warm_shutdown_after_the_fork_server_is_killed(
    tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker("-I", "proj.pooltasks", "-P", "prefork", "-c", "2")
    marker = project_dir / "running"
    result = tasks.sleeper.delay(30, str(marker))
    assert wait_until(lambda: marker.exists() and marker.read_text() != "")
    child = int(marker.read_text())
    server = parent_of(child)
    assert server != worker.process.pid and parent_of(server) == worker.process.pid
    os.kill(server, signal.SIGKILL)
    with pytest.raises(WorkerLostError):
        result.get(timeout=20)
    assert worker.stop(signal.SIGTERM, timeout=30) == 0
    assert "Warm shutdown" in worker.output and "Cold shutdown" not in worker.output
    assert wait_until(lambda: is_gone(child))
