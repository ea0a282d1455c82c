"""``celeriac events --dump`` prints events published by another process."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.events import EventDispatcher

pytestmark = pytest.mark.e2e


def test_dump_prints_events_in_celerys_shape(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    app = Celery("dump", broker=url, set_as_current=False)
    app.broker.open()
    process = subprocess.Popen(
        [sys.executable, "-m", "celeriac", "-b", url, "events", "--dump"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "task succeeded" in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    dispatcher = EventDispatcher(app.broker.event_channel(), hostname="w1@box")
    try:
        # Keep publishing until the dumper (which starts listening when it is ready) shows it.
        for _ in range(200):
            dispatcher.send_task_event(
                "task-received", uuid="u1", name="proj.add", args="(2, 2)", kwargs="{}"
            )
            dispatcher.send_task_event("task-succeeded", uuid="u1", result="4", runtime=0.01)
            dispatcher.flush()
            if seen.wait(0.1):
                break
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        process.stdout.close()
        app.close()
    assert lines[0] == "-> evdump: starting capture..."
    succeeded = next(line for line in lines if "task succeeded" in line)
    assert succeeded.startswith("w1@box [")
    assert "task succeeded: proj.add(u1) args=(2, 2) kwargs={} clock=" in succeeded
    assert "result=4, runtime=0.01, utcoffset=" in succeeded
