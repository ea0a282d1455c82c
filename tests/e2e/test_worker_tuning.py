"""Tuning running worker processes: pool size, autoscale, time and rate limits, stopping
running tasks, retries with backoff, mingle."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac import states
from celeriac.exceptions import MaxRetriesExceededError, TimeLimitExceeded
from tests.e2e.conftest import run_celeriac
from tests.e2e.test_prefork import pool_children
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e
HOST = socket.gethostname()


def control(project_dir: Path, *args: str) -> Any:
    done = run_celeriac(
        project_dir, "-A", "proj", "control", *args, "-j", "-t", "5", "-d", f"w1@{HOST}"
    )
    assert done.returncode == 0, done.stderr
    [reply] = json.loads(done.stdout)  # control -j: the list of replies, as Celery's
    return reply[f"w1@{HOST}"]


def measured_rate(path: Path) -> float:
    times = sorted(float(line) for line in path.read_text().split())
    return (len(times) - 1) / (times[-1] - times[0])


def test_prefork_pool_size_terminate_time_limit_and_track_started(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker("-n", "w1@%h", "-c", "1", "-I", "proj.extra")
    pid = worker.process.pid
    assert control(project_dir, "pool_grow", "2") == {"ok": "pool will grow"}
    assert wait_until(lambda: len(pool_children(pid)) == 3)
    assert control(project_dir, "pool_shrink", "2") == {"ok": "pool will shrink"}
    assert wait_until(lambda: len(pool_children(pid)) == 1)

    # track_started: STARTED with the pool child's pid and the node name.
    tracked = extra.tracked.delay(1.0)
    assert wait_until(lambda: tracked.state == states.STARTED)
    child = tracked.result["pid"]
    assert child in pool_children(pid) and tracked.result["hostname"] == f"w1@{HOST}"
    assert tracked.get(timeout=10) == child

    # revoke --terminate stops the running task: REVOKED (terminated), child replaced.
    marker = project_dir / "running"
    running = extra.sleeper.delay(30, str(marker))
    assert wait_until(marker.exists)
    victim = pool_children(pid)
    done = run_celeriac(project_dir, "-A", "proj", "revoke", "--terminate", running.id)
    assert done.returncode == 0, done.stderr
    assert wait_until(lambda: running.state == states.REVOKED)
    assert "terminated" in str(running.result)
    assert wait_until(lambda: len(pool_children(pid)) == 1 and pool_children(pid) != victim)
    assert worker.wait_for_line("terminated (signal 15)")

    # time_limit changes the task's limits on the worker, for the next message.
    reply = control(project_dir, "time_limit", "proj.extra.sleeper", "none", "0.3")
    assert reply == {"ok": "time limits set successfully"}
    with pytest.raises(TimeLimitExceeded):
        extra.sleeper.delay(30, str(project_dir / "again")).get(timeout=10)


def test_rate_limit_holds_the_measured_rate_and_control_changes_it(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    # Held tasks count in the prefetch: make room for all of them and one more.
    worker_args = ("-P", "threads", "-c", "2", "--prefetch-multiplier", "16")
    start_worker("-n", "w1@%h", *worker_args, "-I", "proj.extra")
    slow = project_dir / "slow"
    stamps = [extra.stamp.delay(str(slow)) for _ in range(16)]  # rate_limit='5/s'
    other = extra.app.send_task("proj.tasks.add", (2, 2))
    assert other.get(timeout=10) == 4  # not held up behind the limited ones
    assert not stamps[-1].ready()
    for result in stamps:
        result.get(timeout=20)
    assert measured_rate(slow) == pytest.approx(5.0, rel=0.2)

    reply = control(project_dir, "rate_limit", "proj.extra.stamp", "10/s")
    assert reply == {"ok": "new rate limit set successfully"}
    fast = project_dir / "fast"
    for result in [extra.stamp.delay(str(fast)) for _ in range(16)]:
        result.get(timeout=20)
    assert measured_rate(fast) == pytest.approx(10.0, rel=0.2)


def test_autoscale_grows_under_load_and_shrinks_when_idle(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker(
        "-n", "w1@%h", "--autoscale=3,1", "-I", "proj.extra", env={"AUTOSCALE_KEEPALIVE": "1"}
    )
    assert "{min=1, max=3} (prefork)" in worker.output
    pid = worker.process.pid
    assert wait_until(lambda: len(pool_children(pid)) == 1)
    results = [extra.sleeper.delay(1.0, str(project_dir / f"m{i}")) for i in range(3)]
    assert wait_until(lambda: len(pool_children(pid)) == 3)
    assert all(r.get(timeout=20) for r in results)
    assert wait_until(lambda: len(pool_children(pid)) == 1, timeout=15)
    assert worker.wait_for_line("Scaling down ")
    assert control(project_dir, "autoscale", "2", "2") == {"ok": "autoscale now max=2 min=2"}
    assert wait_until(lambda: len(pool_children(pid)) == 2)


def test_retries_back_off_then_fail_and_max_retries_exceeded(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start_worker("-P", "threads", "-c", "2", "-I", "proj.extra")
    attempts = project_dir / "attempts"
    result = extra.backoff.delay(str(attempts))  # autoretry_for, backoff 1 s (max), 2 retries
    assert wait_until(lambda: result.state == states.RETRY)
    with pytest.raises(ConnectionError, match="still down"):
        result.get(timeout=20)
    times = [float(line) for line in attempts.read_text().split()]
    assert len(times) == 3
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))
    with pytest.raises(MaxRetriesExceededError):
        extra.exhausted.delay().get(timeout=20)


def test_terminate_in_a_threads_worker_mingle_and_gossip(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    first = start_worker("-n", "w1@%h", "-P", "threads", "-c", "2", "-I", "proj.extra")
    marker = project_dir / "spinning"
    spinning = extra.spin.delay(60, str(marker))
    assert wait_until(marker.exists)
    reply = control(project_dir, "revoke", spinning.id)  # flagged only: it keeps running
    assert reply == {"ok": f"tasks {spinning.id} flagged as revoked"}
    assert control(project_dir, "terminate", "SIGTERM", spinning.id) == {
        "ok": f"terminate: {spinning.id}"
    }
    assert wait_until(lambda: spinning.state == states.REVOKED)
    assert first.wait_for_line("terminated (signal 15)")
    # Mingle: a worker that starts later learns what only w1's memory knows.
    extra.app.control.broadcast(
        "revoke", arguments={"task_id": ["mingled"]}, destination=[f"w1@{HOST}"]
    )
    assert wait_until(lambda: "mingled" in inspect_revoked(project_dir, "w1"))
    second = start_worker("-n", "w2@%h", "-P", "threads", "-Q", "other", mingle=True)
    assert second.wait_for_line("mingle: sync with 1 nodes")
    assert "mingled" in inspect_revoked(project_dir, "w2")
    # Gossip: w1 follows w2 coming and going through w2's worker events.
    assert first.wait_for_line(f"w2@{HOST} joined the party")
    assert second.stop() == 0
    assert first.wait_for_line(f"w2@{HOST} left")


def inspect_revoked(project_dir: Path, name: str) -> list[str]:
    node = f"{name}@{HOST}"
    done = run_celeriac(
        project_dir, "-A", "proj", "inspect", "revoked", "-j", "-d", node, "-t", "5"
    )
    return list(json.loads(done.stdout or "{}").get(node) or [])
