"""A custom task base class's handlers, called in a ``celeriac worker`` prefork child.

The handlers (tests/e2e/handler_tasks.py) write to a file, so the test sees what the
children called, in which order and with which arguments.
"""

from __future__ import annotations

import importlib
import json
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent


def calls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def test_a_prefork_child_calls_the_handlers_in_celerys_order(
    project_dir: Path, start_worker: Any
) -> None:
    shutil.copy(HERE / "handler_tasks.py", project_dir / "proj" / "handlertasks.py")
    log = project_dir / "handlers.jsonl"
    worker = start_worker(
        "-P", "prefork", "-c", "1", app="proj.handlertasks", env={"HANDLER_LOG": str(log)}
    )
    tasks = importlib.import_module("proj.handlertasks")

    ok = tasks.hooked_mul.delay(6, 7)
    assert ok.get(timeout=20) == 42
    failed = tasks.hooked_fail.delay("gone")
    with pytest.raises(KeyError):
        failed.get(timeout=20)
    retried = tasks.hooked_retry.delay()
    assert retried.get(timeout=20) == "done"
    assert wait_until(lambda: len(calls(log)) == 11)
    assert worker.stop(signal.SIGTERM) == 0

    seen = calls(log)
    assert all(line["process"].startswith("ForkPoolWorker-") for line in seen)

    def of(task_id: str) -> list[dict[str, Any]]:
        return [line for line in seen if line["task_id"] == task_id]

    before, success, after = of(ok.id)
    assert before["handler"] == "before_start" and before["args"] == [6, 7]
    assert success == {**success, "handler": "on_success", "retval": 42, "stored": "SUCCESS"}
    assert after == {**after, "handler": "after_return", "status": "SUCCESS", "retval": 42}
    assert after["einfo"] == "NoneType"

    before, failure, after = of(failed.id)
    assert failure["handler"] == "on_failure" and failure["stored"] == "FAILURE"
    assert failure["exc"] == "KeyError" and failure["einfo"] == "ExceptionInfo"
    assert after == {**after, "handler": "after_return", "status": "FAILURE", "retval": "KeyError"}

    assert [line["handler"] for line in of(retried.id)] == [
        "before_start",
        "on_retry",
        "before_start",
        "on_success",
        "after_return",
    ]
    on_retry = of(retried.id)[1]
    assert on_retry["exc"] == "ValueError" and on_retry["einfo"] == "ExceptionInfo"
