"""The signals of the ``celeriac worker`` program, recorded by a real worker process.

The receivers live in the project (tests/e2e/signal_tasks.py, loaded by ``-A``) and
record to a file (tests/e2e/signal_log.py): the program's own signals (``celeryd_init``,
``celeryd_after_setup``, the logging ones, ``worker_shutting_down``) and what prefork
children send, each with Celery's sender and arguments.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e import signal_log
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
HOSTNAME = "signals@e2e"
TASK_SIGNALS = ("task_prerun", "task_success", "task_postrun")


@pytest.fixture
def log_path(project_dir: Path) -> Path:
    shutil.copy(HERE / "signal_log.py", project_dir / "proj" / "signal_log.py")
    shutil.copy(HERE / "signal_tasks.py", project_dir / "proj" / "signaltasks.py")
    return project_dir / "signals.jsonl"


def lines(path: Path, name: str) -> list[dict[str, Any]]:
    return [line for line in signal_log.read(path) if line["signal"] == name]


def one(path: Path, name: str) -> dict[str, Any]:
    [line] = lines(path, name)
    return line


def kinds(line: dict[str, Any]) -> dict[str, str]:
    return {key: value["type"] for key, value in line["kwargs"].items()}


def test_program_signals_with_prefork_children_and_a_warm_stop(
    log_path: Path, proj: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker(
        "-n",
        HOSTNAME,
        "-c",
        "2",
        "-B",
        "-s",
        str(project_dir / "schedule"),
        app="proj.signaltasks",
        env={"SIGNAL_LOG": str(log_path)},
    )
    assert proj.add.delay(2, 3).get(timeout=20) == 5
    assert wait_until(lambda: bool(lines(log_path, "task_postrun")))
    assert worker.stop(signal.SIGTERM) == 0

    imported = lines(log_path, "import_modules")[0]
    assert imported["sender"]["type"] == "Celery" and imported["kwargs"] == {}

    init = one(log_path, "celeryd_init")
    assert init["sender"] == {"type": "str", "value": HOSTNAME}
    assert kinds(init) == {"instance": "Worker", "conf": "Settings", "options": "dict"}
    assert init["kwargs"]["options"]["value"]["concurrency"] == 2
    after = one(log_path, "celeryd_after_setup")
    assert after["sender"] == {"type": "str", "value": HOSTNAME}
    assert kinds(after) == {"instance": "Worker", "conf": "Settings"}

    # A setup_logging receiver takes logging over: the after_* signals are not sent.
    setup = one(log_path, "setup_logging")
    assert kinds(setup) == {
        "loglevel": "int",
        "logfile": "NoneType",
        "format": "str",
        "colorize": "bool",
    }
    assert setup["kwargs"]["loglevel"]["value"] == 20  # -l INFO
    assert not lines(log_path, "after_setup_logger")

    main_pid = init["pid"]
    children = lines(log_path, "worker_process_init")
    assert len(children) == 2
    for child in children:
        assert child["sender"] == {"type": "str", "value": HOSTNAME}
        assert child["pid"] != main_pid and child["process"].startswith("ForkPoolWorker-")
    for name in ("worker_init", "worker_ready", "worker_shutdown"):
        assert one(log_path, name)["pid"] == main_pid and one(log_path, name)["kwargs"] == {}
    assert one(log_path, "worker_init")["sender"]["type"] == "Worker"
    assert one(log_path, "worker_ready")["sender"]["type"] == "Consumer"
    assert one(log_path, "beat_init")["sender"]["type"] == "Service"
    assert one(log_path, "beat_embedded_init")["sender"]["type"] == "Service"

    prerun = one(log_path, "task_prerun")
    assert prerun["pid"] in {child["pid"] for child in children}
    assert prerun["sender"]["name"] == "proj.tasks.add"

    stopping = one(log_path, "worker_shutting_down")
    assert stopping["sender"] == {"type": "str", "value": HOSTNAME}
    assert {key: value["value"] for key, value in stopping["kwargs"].items()} == {
        "sig": "SIGTERM",
        "how": "Warm",
        "exitcode": 0,
    }
    shutdowns = lines(log_path, "worker_process_shutdown")
    assert {line["pid"] for line in shutdowns} == {child["pid"] for child in children}
    for line in shutdowns:
        assert kinds(line) == {"pid": "int", "exitcode": "int"}
        assert line["kwargs"]["pid"]["value"] == line["pid"]
    order = [line["signal"] for line in signal_log.read(log_path) if line["pid"] == main_pid]
    assert order.index("celeryd_init") < order.index("worker_init") < order.index("worker_ready")
    assert order.index("worker_shutting_down") < order.index("worker_shutdown")


def test_logging_signals_and_a_cold_stop(
    log_path: Path, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker(
        "-n",
        HOSTNAME,
        "-P",
        "solo",
        app="proj.signaltasks",
        env={"SIGNAL_LOG": str(log_path), "SIGNAL_LOG_SKIP": "setup_logging"},
    )
    assert wait_until(lambda: bool(lines(log_path, "worker_ready")))
    worker.stop(signal.SIGQUIT)

    root = one(log_path, "after_setup_logger")
    assert root["kwargs"]["logger"] == {"type": "RootLogger", "name": "root"}
    task_logger = one(log_path, "after_setup_task_logger")
    assert task_logger["kwargs"]["logger"]["type"] == "Logger"
    for line in (root, task_logger):
        assert line["sender"] == {"type": "NoneType", "value": None}
        assert set(line["kwargs"]) == {"logger", "loglevel", "logfile", "format", "colorize"}
        assert line["kwargs"]["loglevel"] == {"type": "int", "value": 20}
    # The solo pool runs tasks in the worker's own process.
    assert one(log_path, "worker_process_init")["pid"] == root["pid"]
    stopping = one(log_path, "worker_shutting_down")
    assert {key: value["value"] for key, value in stopping["kwargs"].items()} == {
        "sig": "SIGQUIT",
        "how": "Cold",
        "exitcode": 1,
    }
    assert one(log_path, "worker_shutdown")["pid"] == root["pid"]


@pytest.mark.parametrize("pool", ["gevent", "eventlet"])
def test_task_signals_in_a_greenlet_pool(
    log_path: Path, proj: ModuleType, start_worker: Any, pool: str
) -> None:
    worker = start_worker(
        "-P",
        pool,
        app="proj.signaltasks",
        env={"SIGNAL_LOG": str(log_path), "SIGNAL_LOG_SKIP": "setup_logging"},
    )
    assert proj.add.delay(2, 3).get(timeout=20) == 5
    assert wait_until(lambda: bool(lines(log_path, "task_postrun")))
    worker.stop(signal.SIGTERM)

    main_pid = one(log_path, "worker_init")["pid"]
    prerun, success, postrun = (one(log_path, name) for name in TASK_SIGNALS)
    for line in (prerun, success, postrun):
        assert line["sender"]["name"] == "proj.tasks.add"
        assert line["pid"] == main_pid  # greenlets run in the worker's own process
    assert set(prerun["kwargs"]) == {"task_id", "task", "args", "kwargs"}
    assert kinds(success) == {"result": "int", "runtime": "float"}
    assert postrun["kwargs"]["retval"]["value"] == 5
    assert postrun["kwargs"]["state"]["value"] == "SUCCESS"
    assert not lines(log_path, "worker_process_init")  # as Celery's greenlet pools
