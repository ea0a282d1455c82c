"""``worker -D`` with --pidfile, --logfile (per pool process), --umask, --executable,
--uid/--gid and --statedb; stale and live pidfiles."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.multi.cluster import is_alive
from tests.e2e.conftest import run_celeriac
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e
HOST = socket.gethostname()


def detach(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_celeriac(
        project_dir,
        "-A",
        "proj",
        "worker",
        "-D",
        "-l",
        "INFO",
        "-I",
        "proj.extra",
        "--without-mingle",
        "--pidfile=run/%n.pid",
        "--logfile=log/%n%I.log",
        *args,
    )


def stop(pidfile: Path) -> None:
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not is_alive(pid), timeout=20)


def test_detach_with_pidfile_and_a_log_file_per_process(
    extra: ModuleType, project_dir: Path
) -> None:
    (project_dir / "run").mkdir()
    (project_dir / "log").mkdir()
    wrapper = project_dir / "python.sh"
    wrapper.write_text(
        f'#!/bin/sh\necho "$@" > {project_dir}/exec-args\nexec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    me = str(os.getuid())
    done = detach(
        project_dir,
        "-n",
        "w1@%h",
        "-c",
        "2",
        "--umask=027",
        f"--executable={wrapper}",
        f"--uid={me}",
        f"--gid={os.getgid()}",
        "--statedb=state-%n.db",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # it returns once the daemon started
    pidfile = project_dir / "run" / "w1.pid"
    pid = int(pidfile.read_text())
    assert is_alive(pid) and os.getsid(pid) != os.getsid(0)  # its own session
    assert "--detached-status-fd=" in (project_dir / "exec-args").read_text()
    try:
        main_log = project_dir / "log" / "w1.log"
        assert wait_until(
            lambda: "w1@" in main_log.read_text() and " ready." in main_log.read_text()
        )
        assert stat.S_IMODE(main_log.stat().st_mode) == 0o640  # the umask applied
        pids = {extra.shout.delay(i).get(timeout=20) for i in range(6)}
        assert pid not in pids
        child_logs = sorted(p.name for p in (project_dir / "log").iterdir())
        assert child_logs == ["w1-1.log", "w1-2.log", "w1.log"]
        shouted = "".join((project_dir / "log" / n).read_text() for n in child_logs[:2])
        assert "shout 0 from" in shouted and "ForkPoolWorker-" in shouted
        assert "shout 0 from" not in main_log.read_text()
        # A revoke that only the worker's memory knows (not the broker's store)...
        extra.app.control.broadcast("revoke", arguments={"task_id": ["remembered"]})
        assert wait_until(lambda: "remembered" in revoked(project_dir))
    finally:
        stop(pidfile)
    assert not pidfile.exists()
    # ... survives a restart through the state file.
    assert detach(project_dir, "-n", "w1@%h", "-c", "1", "--statedb=state-%n.db").returncode == 0
    try:
        assert "remembered" in revoked(project_dir)
    finally:
        stop(pidfile)


def revoked(project_dir: Path) -> list[str]:
    done = run_celeriac(project_dir, "-A", "proj", "inspect", "revoked", "-j", "-t", "1")
    replies = json.loads(done.stdout or "{}")
    return [task_id for ids in replies.values() for task_id in ids]


def test_a_live_pidfile_refuses_a_second_worker_in_one_line(project_dir: Path) -> None:
    pidfile = project_dir / "w.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # this test process: alive
    for mode in ((), ("-D",)):
        done = run_celeriac(project_dir, "-A", "proj", "worker", *mode, f"--pidfile={pidfile}")
        assert done.returncode == 1
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("Error: Pidfile") and "already running?" in line
        assert pidfile.read_text() == f"{os.getpid()}\n"


def test_a_stale_pidfile_is_replaced(start_worker: Any, project_dir: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pidfile = project_dir / "w.pid"
    pidfile.write_text(f"{gone.pid}\n")
    worker = start_worker("-P", "threads", "-c", "1", f"--pidfile={pidfile}")
    assert pidfile.read_text().strip() == str(worker.process.pid)
    assert worker.stop() == 0
    assert not pidfile.exists()


def test_detach_reports_a_worker_that_cannot_start(project_dir: Path) -> None:
    done = run_celeriac(
        project_dir, "-A", "no_such_project", "worker", "-D", "--logfile=missing/dir/w.log"
    )
    assert done.returncode == 1 and "cannot open log file" in done.stderr
    done = run_celeriac(project_dir, "-A", "no_such_project", "worker", "-D")
    assert done.returncode == 1 and "no_such_project" in done.stderr
