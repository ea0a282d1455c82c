"""``celeriac beat`` processes with a real worker: cadence, leader failover, --detach.

Runs are recorded by the task itself (time and task id, one line each), so what is
checked is what a worker actually executed. Waits are on conditions with deadlines;
timing checks have wide tolerances.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from celeriac.testing.processes import WorkerProcess
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

TASKS = """
import time

from .celeriac import app


@app.task(bind=True, name="proj.beatjobs.record")
def record(self, path):
    with open(path, "a") as runs:
        runs.write(f"{time.time()} {self.request.id}\\n")
"""


class BeatProcess(WorkerProcess):
    """``celeriac -A proj --config proj.beatconfig beat ...``, ready once it starts ticking."""

    kind = "beat"
    ready_line = "beat: Starting..."

    def __init__(self, args: Sequence[str], *, cwd: Path) -> None:
        super().__init__("proj", cwd=cwd)
        self.command = [
            sys.executable,
            "-m",
            "celeriac",
            "-A",
            "proj",
            "--config",
            "proj.beatconfig",
            "beat",
            "-l",
            "INFO",
            *args,
        ]

    def count(self, text: str) -> int:
        with self._changed:
            return sum(text in line for line in self.lines)


@pytest.fixture
def runs_file(project_dir: Path) -> Path:
    """Where the task records its runs; the project is set up to send it every second."""
    runs = project_dir / "runs.txt"
    (project_dir / "proj" / "beatjobs.py").write_text(TASKS)
    (project_dir / "proj" / "beatconfig.py").write_text(
        textwrap.dedent(f"""
            beat_schedule = {{
                "record": {{
                    "task": "proj.beatjobs.record",
                    "schedule": 1.0,
                    "args": [{str(runs)!r}],
                }},
            }}
        """)
    )
    return runs


@pytest.fixture
def start_beat(project_dir: Path) -> Iterator[Any]:
    started: list[BeatProcess] = []

    def start(*args: str) -> BeatProcess:
        beat = BeatProcess(args, cwd=project_dir)
        started.append(beat)
        beat.start()
        return beat

    yield start
    for beat in started:
        beat.__exit__(None, None, None)


def read_runs(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        stamp, task_id = line.split()
        runs.append((float(stamp), task_id))
    return runs


def gaps(runs: list[tuple[float, str]]) -> list[float]:
    return [b[0] - a[0] for a, b in itertools.pairwise(runs)]


def test_beat_sends_every_second_and_the_worker_runs_it(
    runs_file: Path, start_worker: Any, start_beat: Any, project_dir: Path
) -> None:
    start_worker("-P", "solo", "-I", "proj.beatjobs")
    beat = start_beat("-s", str(project_dir / "celerybeat-schedule"))

    assert wait_until(lambda: len(read_runs(runs_file)) >= 6, timeout=30), beat.output
    assert beat.stop() == 0
    assert "celeriac beat v" in beat.output and "Configuration ->" in beat.output
    assert "beat: Stopped." in beat.output

    runs = read_runs(runs_file)[:6]
    assert len({task_id for _, task_id in runs}) == 6
    # One second apart, give or take scheduling noise on a busy machine.
    assert all(0.5 < gap < 2.5 for gap in gaps(runs)), gaps(runs)
    assert 4.0 < runs[-1][0] - runs[0][0] < 9.0


def test_worker_with_embedded_beat(runs_file: Path, start_worker: Any, project_dir: Path) -> None:
    schedule = project_dir / "embedded-schedule"
    worker = start_worker(
        "-P",
        "solo",
        "-I",
        "proj.beatjobs",
        "-B",
        "-s",
        str(schedule),
        "--scheduler",
        "celeriac.beat:PersistentScheduler",
        global_args=["--config", "proj.beatconfig"],
    )
    assert wait_until(lambda: len(read_runs(runs_file)) >= 4, timeout=30), worker.output
    assert worker.stop() == 0
    runs = read_runs(runs_file)
    assert all(0.5 < gap < 2.5 for gap in gaps(runs[:4])), gaps(runs)
    # Runs sent just before the worker stopped may be left in the queue.
    assert len(runs) <= total_run_count(schedule)
    assert len({task_id for _, task_id in runs}) == len(runs)


def total_run_count(schedule: Path) -> int:
    with sqlite3.connect(schedule) as conn:
        row = conn.execute("SELECT total_run_count FROM beat_state WHERE name = 'record'")
        return int(row.fetchone()[0])


def test_follower_takes_over_when_the_leader_is_killed(
    runs_file: Path, start_worker: Any, start_beat: Any, project_dir: Path
) -> None:
    start_worker("-P", "solo", "-I", "proj.beatjobs")
    schedule = project_dir / "shared-schedule"
    args = ("-s", str(schedule), "--lease-timeout", "1")
    leader = start_beat(*args)
    assert leader.wait_for_line("holds the leader lease", 10), leader.output
    follower = start_beat(*args)
    assert follower.wait_for_line("stands by", 10), follower.output

    assert wait_until(lambda: len(read_runs(runs_file)) >= 3, timeout=20), leader.output
    leader.kill()  # SIGKILL: no clean-up, the lease is left to expire
    sent_by_leader = leader.count("Sending due task")
    assert follower.wait_for_line("holds the leader lease", 10), follower.output
    assert wait_until(lambda: follower.count("Sending due task") >= 4, timeout=20)
    assert follower.stop() == 0

    recorded = total_run_count(schedule)
    sent = sent_by_leader + follower.count("Sending due task")
    wait_until(lambda: len(read_runs(runs_file)) >= recorded, timeout=10)
    runs = read_runs(runs_file)
    # No duplicate: never more runs than the runs recorded in the shared state, and every
    # task id once. (One fewer only if the leader died between recording a run and
    # publishing it.)
    assert recorded - 1 <= len(runs) <= recorded
    assert sent - 1 <= len(runs) <= sent
    assert len({task_id for _, task_id in runs}) == len(runs)
    # No gap: the follower went on within the lease time (1 s) plus its 1/3 s polling.
    assert max(gaps(runs)) < 4.5, gaps(runs)
    assert min(gaps(runs)) > 0.5, gaps(runs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_detach_runs_in_the_background_with_a_pidfile(runs_file: Path, project_dir: Path) -> None:
    pidfile, logfile = project_dir / "beat.pid", project_dir / "beat.log"
    command = [sys.executable, "-m", "celeriac", "-A", "proj", "--config", "proj.beatconfig"]
    command += ["beat", "--detach", "-l", "INFO", "--pidfile", str(pidfile)]
    command += ["-f", str(logfile), "-s", str(project_dir / "celerybeat-schedule")]
    finished = subprocess.run(
        command, check=False, cwd=project_dir, timeout=30, capture_output=True
    )
    assert finished.returncode == 0, finished.stderr
    assert wait_until(pidfile.exists, timeout=20)
    pid = int(pidfile.read_text())
    try:
        assert _alive(pid)
        assert wait_until(lambda: "beat: Starting..." in logfile.read_text(), timeout=20)
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not _alive(pid), timeout=20)
        assert not pidfile.exists()
        assert "beat: Stopped." in logfile.read_text()
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
