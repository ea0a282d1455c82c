"""Celery's logging settings and task loggers, in the log of a real ``celeriac worker``.

The app (tests/e2e/log_tasks.py) sets worker_log_format, worker_task_log_format and
worker_redirect_stdouts_level; its task logs through get_task_logger and prints.
"""

from __future__ import annotations

import importlib
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent


@pytest.fixture
def logtasks(project_dir: Path) -> Any:
    shutil.copy(HERE / "log_tasks.py", project_dir / "proj" / "logtasks.py")
    return lambda: importlib.import_module("proj.logtasks")


@pytest.mark.parametrize("pool", ["prefork", "threads", "gevent"])
def test_the_formats_the_task_logger_and_print_in_the_log(
    logtasks: Any, start_worker: Any, pool: str
) -> None:
    worker = start_worker("-P", pool, "-c", "1", app="proj.logtasks")
    result = logtasks().chatty.delay("hello")
    assert result.get(timeout=20) == "hello"
    child = "ForkPoolWorker-1" if pool == "prefork" else "MainProcess"
    said = f"TASKFMT {child} proj.logtasks.chatty[{result.id}]: said hello"
    assert worker.wait_for_line(said), worker.output
    # print() in the task: a line of the log at worker_redirect_stdouts_level.
    assert worker.wait_for_line(f"LOGFMT ERROR {child}: printed hello"), worker.output
    assert any(line.startswith("LOGFMT INFO MainProcess: ") for line in worker.output.split("\n"))
    assert worker.stop(signal.SIGTERM) == 0
    assert "TASKFMT" not in worker.output.replace(said, "")  # one line from the task logger


def test_hijack_false_keeps_the_root_handler_the_app_set_up(
    logtasks: Any, start_worker: Any
) -> None:
    env = {"OWN_ROOT_HANDLER": "1", "KEEP_ROOT": "1"}
    worker = start_worker("-P", "solo", app="proj.logtasks", env=env)
    result = logtasks().chatty.delay("kept")
    assert result.get(timeout=20) == "kept"
    assert worker.wait_for_line(f"chatty[{result.id}] succeeded in"), worker.output
    assert worker.stop(signal.SIGTERM) == 0
    lines = worker.output.split("\n")
    assert "OWN celeriac.worker.worker: celery@vm ready." in lines
    # The root keeps its handler and gets none of the worker's (the task logger does).
    assert not [line for line in lines if line.startswith("LOGFMT")]
    assert [line for line in lines if line.startswith("TASKFMT")]


def test_hijack_true_removes_the_root_handler_the_app_set_up(
    logtasks: Any, start_worker: Any
) -> None:
    worker = start_worker("-P", "solo", app="proj.logtasks", env={"OWN_ROOT_HANDLER": "1"})
    result = logtasks().chatty.delay("taken")
    assert result.get(timeout=20) == "taken"
    assert worker.wait_for_line(f"chatty[{result.id}] succeeded in"), worker.output
    assert worker.stop(signal.SIGTERM) == 0
    assert "LOGFMT INFO MainProcess: celery@vm ready." in worker.output.split("\n")
    assert "OWN " not in worker.output  # its handler was removed before anything was logged
