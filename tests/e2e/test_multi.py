"""``celeriac multi`` end to end: named and counted nodes, per-node options, stopwait,
restart and kill, pid and log files where the templates say."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from celeriac.multi.cluster import is_alive
from tests.e2e.conftest import run_celeriac
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e
HOST = socket.gethostname()


def multi(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celeriac", "multi", *args, "-A", "proj", *FILES],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


FILES = ("--pidfile=run/%n.pid", "--logfile=log/%n%I.log", "-P", "threads", "-c", "1")
NAMED = ("w1", "w2", "w3", "-Q:w1", "images", "-Q:2,3", "video", "-L:3", "debug")
COUNTED = ("4", "-Q:1-3", "images,video", "-Q:4", "data", "-L:3,4", "debug", "-I", "proj.extra")


def family(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    found = {pid}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # that thread (or the process) just ended
            continue
        for child in children:
            found |= family(int(child))
    return found


def queues(project_dir: Path, *names: str) -> dict[str, list[str]]:
    """Each node's queues (replies are awaited from ``names`` only, at most 3 s)."""
    nodes = ",".join(f"{name}@{HOST}" for name in names)
    done = run_celeriac(
        project_dir, "-A", "proj", "inspect", "active_queues", "-j", "-t", "3", "-d", nodes
    )
    replies = json.loads(done.stdout or "{}")
    return {node: sorted(q["name"] for q in items) for node, items in replies.items()}


def pids(project_dir: Path, *names: str) -> dict[str, int]:
    return {name: int((project_dir / "run" / f"{name}.pid").read_text()) for name in names}


def test_multi_start_stopwait_restart_kill(extra: ModuleType, project_dir: Path) -> None:
    counted = [f"celery{i}" for i in range(1, 5)]
    started = [multi(project_dir, "start", *NAMED), multi(project_dir, "start", *COUNTED)]
    try:
        for done in started:
            assert done.returncode == 0, done.stderr
            assert "> Starting nodes..." in done.stdout and "FAILED" not in done.stdout
        expected = {
            f"w1@{HOST}": ["images"],
            f"w2@{HOST}": ["video"],
            f"w3@{HOST}": ["video"],
            **{f"celery{i}@{HOST}": ["images", "video"] for i in (1, 2, 3)},
            f"celery4@{HOST}": ["data"],
        }
        assert wait_until(lambda: queues(project_dir) == expected, timeout=30), queues(project_dir)
        logs = sorted(p.name for p in (project_dir / "log").glob("*.log"))
        assert logs == sorted(f"{n}.log" for n in ["w1", "w2", "w3", *counted])
        debug = {n for n in ["w1", "w2", "w3", *counted] if "DEBUG/" in log_text(project_dir, n)}
        assert debug == {"w3", "celery3", "celery4"}
        assert "already running" in multi(project_dir, "start", *NAMED).stdout

        # stopwait returns once every process is gone, after running tasks finished.
        running = extra.sleeper.apply_async((1.5, str(project_dir / "m")), queue="data")
        assert wait_until((project_dir / "m").exists, timeout=20)
        before = {name: family(pid) for name, pid in pids(project_dir, *counted).items()}
        done = multi(project_dir, "stopwait", *COUNTED)
        assert done.returncode == 0, done.stderr
        assert "> Waiting for 4 nodes -> " in done.stdout
        assert not any(is_alive(p) for procs in before.values() for p in procs)
        assert running.state == "SUCCESS"
        assert not list((project_dir / "run").glob("celery*.pid"))

        # restart replaces the pids; the nodes answer again.
        old = pids(project_dir, "w1", "w2", "w3")
        done = multi(project_dir, "restart", *NAMED)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("> Restarting node") == 3
        new = pids(project_dir, "w1", "w2", "w3")
        assert not set(old.values()) & set(new.values())
        assert not any(is_alive(pid) for pid in old.values())
        assert wait_until(lambda: len(queues(project_dir, "w1", "w2", "w3")) == 3, timeout=30)
    finally:
        procs = set()
        for name in ("w1", "w2", "w3", *counted):
            pidfile = project_dir / "run" / f"{name}.pid"
            if pidfile.exists():
                procs |= family(int(pidfile.read_text()))
        done = multi(project_dir, "kill", *NAMED)
        multi(project_dir, "kill", *COUNTED)
    assert done.returncode == 0, done.stderr
    assert "KILL -> " in done.stdout
    assert wait_until(lambda: not any(is_alive(p) for p in procs), timeout=10)
    assert not list((project_dir / "run").glob("*.pid"))


def log_text(project_dir: Path, name: str) -> str:
    return (project_dir / "log" / f"{name}.log").read_text()


def test_multi_show_names_and_expand(project_dir: Path) -> None:
    done = multi(project_dir, "names", *COUNTED)
    assert done.stdout.split() == [f"celery{i}@{HOST}" for i in range(1, 5)]
    done = multi(project_dir, "expand", "run/%n.pid", "w1", "w2")
    assert done.stdout.split() == ["run/w1.pid", "run/w2.pid"]
    show = multi(project_dir, "show", *NAMED).stdout.splitlines()
    assert len(show) == 3 and all("--detach" in line for line in show)
    assert "--pidfile=run/w1.pid" in show[0] and "--logfile=log/w1%I.log" in show[0]
    assert os.path.basename(sys.executable) in show[0]
