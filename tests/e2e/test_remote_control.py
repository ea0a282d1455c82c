"""inspect, control, status and revoke against two named worker processes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.conftest import run_celeriac
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e
HOST = socket.gethostname()
W1, W2 = f"w1@{HOST}", f"w2@{HOST}"


@pytest.fixture
def two_workers(extra: ModuleType, start_worker: Any) -> tuple[Any, Any]:
    first = start_worker("-n", "w1@%h", "-P", "threads", "-c", "2", "-I", "proj.extra")
    second = start_worker("-n", "w2@%h", "-P", "threads", "-c", "2", "-I", "proj.extra")
    return first, second


def cli(project_dir: Path, *args: str) -> Any:
    """``celeriac -A proj ARGS``; replies are collected for 0.5 s unless -t says otherwise."""
    timeout = () if "-t" in args or args[0] in ("revoke",) else ("-t", "0.5")
    return run_celeriac(project_dir, "-A", "proj", *args, *timeout)


def test_status_and_ping_with_and_without_destination(two_workers: Any, project_dir: Path) -> None:
    done = cli(project_dir, "status")
    assert done.returncode == 0, done.stderr
    assert f"->  {W1}: OK" in done.stdout and f"->  {W2}: OK" in done.stdout
    assert "2 nodes online." in done.stdout
    done = cli(project_dir, "inspect", "ping", "-d", W1)
    assert f"->  {W1}: OK\n        pong" in done.stdout and W2 not in done.stdout
    assert "1 node online." in done.stdout
    replies = json.loads(cli(project_dir, "inspect", "ping", "-j").stdout)
    assert replies == {W1: {"ok": "pong"}, W2: {"ok": "pong"}}


def test_no_worker_is_exit_status_69(project_dir: Path) -> None:
    done = cli(project_dir, "inspect", "ping", "-t", "0.3")
    assert done.returncode == 69
    assert "Error: No nodes replied within time constraint" in done.stderr


def test_inspect_active_shows_the_running_task(
    two_workers: Any, extra: ModuleType, project_dir: Path
) -> None:
    marker = project_dir / "running"
    result = extra.spin.delay(30, str(marker))
    assert wait_until(marker.exists)
    active = json.loads(cli(project_dir, "inspect", "active", "-j").stdout)
    infos = [info for node in active.values() for info in node]
    [info] = [i for i in infos if i["id"] == result.id]
    assert info["name"] == "proj.extra.spin" and info["type"] == "proj.extra.spin"
    assert info["args"] == [30, str(marker)] and info["hostname"] in (W1, W2)
    assert isinstance(info["time_start"], float) and info["acknowledged"] is True
    assert isinstance(info["worker_pid"], int)
    queried = json.loads(cli(project_dir, "inspect", "query_task", result.id, "-j").stdout)
    states = [v[result.id][0] for v in queried.values() if result.id in v]
    assert states == ["active"]
    revoked = cli(project_dir, "control", "revoke", result.id)
    assert f"tasks {result.id} flagged as revoked" in revoked.stdout
    stopped = cli(project_dir, "control", "terminate", "SIGTERM", result.id)
    assert f"terminate: {result.id}" in stopped.stdout
    assert wait_until(lambda: result.state == "REVOKED")


def test_inspect_commands_answer_in_celerys_shapes(two_workers: Any, project_dir: Path) -> None:
    registered = json.loads(cli(project_dir, "inspect", "registered", "-j").stdout)
    assert "proj.tasks.add" in registered[W1] and not any(
        name.startswith("celery.") for name in registered[W1]
    )
    stats = json.loads(cli(project_dir, "inspect", "stats", "-j", "-d", W2).stdout)[W2]
    assert {"total", "pid", "clock", "uptime", "pool", "broker", "prefetch_count", "rusage"} <= set(
        stats
    )
    queues = json.loads(cli(project_dir, "inspect", "active_queues", "-j").stdout)
    assert [q["name"] for q in queues[W1]] == ["celery"]
    conf = json.loads(cli(project_dir, "inspect", "conf", "-j").stdout)[W1]
    assert conf["include"] == ["proj.tasks"]
    for command in ("reserved", "scheduled", "revoked", "clock", "report", "memsample"):
        done = cli(project_dir, "inspect", command)
        assert done.returncode == 0 and "2 nodes online." in done.stdout, (command, done)
    assert "Inspect Commands" in cli(project_dir, "inspect", "--help").stdout


def test_add_and_cancel_consumer(two_workers: Any, proj: ModuleType, project_dir: Path) -> None:
    done = cli(project_dir, "control", "add_consumer", "newq", "-d", W1)
    assert f"->  {W1}: OK\n        add consumer newq" in done.stdout
    result = proj.add.apply_async((2, 3), queue="newq")
    assert result.get(timeout=10) == 5
    queues = json.loads(cli(project_dir, "inspect", "active_queues", "-j").stdout)
    assert "newq" in [q["name"] for q in queues[W1]]
    assert "newq" not in [q["name"] for q in queues[W2]]
    done = cli(project_dir, "control", "cancel_consumer", "newq", "-d", W1)
    assert "no longer consuming from newq" in done.stdout


def test_revokes_are_durable(proj: ModuleType, start_worker: Any, project_dir: Path) -> None:
    waiting = proj.add.delay(1, 1)  # nobody is consuming yet
    done = cli(project_dir, "revoke", waiting.id)
    assert done.returncode == 0 and "Revoked 1 task." in done.stdout
    start_worker("-P", "threads")  # starts after the revoke
    assert wait_until(lambda: waiting.state == "REVOKED")
    assert proj.add.delay(2, 2).get(timeout=10) == 4
    revoked = json.loads(cli(project_dir, "inspect", "revoked", "-j").stdout)
    assert waiting.id in next(iter(revoked.values()))


def test_shutdown_one_worker(two_workers: Any, project_dir: Path) -> None:
    _, second = two_workers
    done = cli(project_dir, "control", "shutdown", "-d", W2, "-t", "0.5")
    assert done.returncode in (0, 69)  # shutdown sends no reply, as in Celery
    assert second.process.wait(timeout=15) == 0
    status = cli(project_dir, "status").stdout
    assert W1 in status and W2 not in status


def test_python_api(two_workers: Any, project_dir: Path, proj: ModuleType) -> None:
    from proj.celeriac import app

    assert sorted(next(iter(r)) for r in app.control.ping(timeout=2)) == [W1, W2]
    inspect = app.control.inspect(destination=W1, timeout=2)
    assert inspect.ping() == {"ok": "pong"}
    assert "proj.tasks.add" in app.control.inspect(timeout=2).registered()[W2]
    replies = app.control.broadcast("ping", reply=True, timeout=2, destination=[W2])
    assert replies == [{W2: {"ok": "pong"}}]
