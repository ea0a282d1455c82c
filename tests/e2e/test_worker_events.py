"""Events from a real worker: -E, control enable_events/disable_events, events --dump."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac import chain
from tests.e2e.conftest import run_celeriac
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e


def _dump(project_dir: Path) -> tuple[subprocess.Popen[str], list[str], threading.Event]:
    process = subprocess.Popen(
        [sys.executable, "-m", "celeriac", "-A", "proj", "events", "--dump"],
        cwd=project_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "starting capture" in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    return process, lines, started


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


def test_dump_shows_a_chain_of_two_tasks_in_order(
    proj: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start_worker("-P", "threads", "-n", "ev@%h", "--heartbeat-interval", "0.2")
    done = run_celeriac(project_dir, "-A", "proj", "control", "enable_events")
    assert "task events enabled" in done.stdout
    process, lines, started = _dump(project_dir)
    try:
        assert started.wait(10)
        # The dumper listens once it shows one of the worker's heartbeats.
        assert wait_until(lambda: any("] heartbeat" in line for line in lines), timeout=10)
        result = chain(proj.add.s(2, 2), proj.mul.s(10))()
        assert result.get(timeout=10) == 40

        def seen_all() -> bool:
            return sum("task succeeded" in line for line in lines) >= 2

        assert wait_until(seen_all, timeout=10), lines
    finally:
        _stop(process)
    # Each task's events come in order; the worker sends mul (the chain's next step)
    # before add's task-succeeded event, so mul may be received before that arrives.
    add = [line for line in lines if "task " in line and "proj.tasks.add(" in line]
    mul = [line for line in lines if "task " in line and "proj.tasks.mul(" in line]
    for events in (add, mul):
        kinds = [line.split("] ", 1)[1].split(":", 1)[0] for line in events]
        assert kinds == ["task received", "task started", "task succeeded"]
    assert "args=(2, 2)" in add[0] and "result=4," in add[2]
    assert "result=40" in mul[2]
    done = run_celeriac(project_dir, "-A", "proj", "control", "disable_events")
    assert "task events disabled" in done.stdout


def test_task_events_flag_and_heartbeats(
    proj: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker("-P", "threads", "-E", "--heartbeat-interval", "0.3")
    assert ".> task events: ON" in worker.output
    from proj.celeriac import app

    from celeriac.events import EventReceiver, State

    state = State()
    receiver = EventReceiver(app, handlers={"*": state.event})
    list(receiver.events(timeout=0))
    result = proj.add.delay(1, 2)
    assert result.get(timeout=10) == 3

    def settled() -> bool:
        for event in receiver.events(timeout=0.25):
            state.event(event)
        task = state.tasks.get(result.id)
        return task is not None and task.state == "SUCCESS" and bool(state.alive_workers())

    assert wait_until(settled, timeout=10)
    assert state.tasks[result.id].state == "SUCCESS"
    assert state.tasks[result.id].name == "proj.tasks.add"
    assert [w.hostname for w in state.alive_workers()] == [worker.output.split()[0]]
