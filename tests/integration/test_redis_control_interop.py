"""Remote control and events between Celery and celeriac on one Redis, both ways."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.wait import wait_until
from tests.integration import _redis_env

pytestmark = [
    pytest.mark.redis,
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]
make_redis_env = _redis_env.make_redis_env  # the fixture


def _cli(env: Any, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", program, *args],
        cwd=env.directory,
        env={**__import__("os").environ, **env.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_celery_inspects_a_celeriac_worker(make_redis_env: Any) -> None:
    env = make_redis_env()
    worker = env.celeriac_worker("-n", "cel@%h")
    node = worker.output.split()[0]
    peer = env.module("rpeer_tasks")
    assert peer.app.control.inspect(timeout=2).ping() == {node: {"ok": "pong"}}
    registered = peer.app.control.inspect(timeout=2).registered()
    assert "interop.add" in registered[node]
    done = _cli(env, "celery", "-A", "rpeer_tasks", "inspect", "ping", "-t", "2")
    assert done.returncode == 0, done.stderr
    assert f"->  {node}: OK" in done.stdout and "pong" in done.stdout


def test_celeriac_inspects_a_celery_worker(make_redis_env: Any) -> None:
    env = make_redis_env()
    env.celery_worker()
    cel = env.module("rcel_tasks")
    replies = cel.app.control.ping(timeout=2)
    assert len(replies) == 1 and next(iter(replies[0])).startswith("peer@")
    done = _cli(env, "celeriac", "-A", "rcel_tasks", "inspect", "active", "-t", "2")
    assert done.returncode == 0, done.stderr
    assert "peer@" in done.stdout and "1 node online." in done.stdout


def test_celery_receives_celeriac_worker_events(make_redis_env: Any) -> None:
    import threading

    env = make_redis_env()
    env.celeriac_worker("-E", "--heartbeat-interval", "0.5")
    peer = env.module("rpeer_tasks")
    state = peer.app.events.State()  # Celery's (and Flower's) cluster model
    listening, done = threading.Event(), threading.Event()

    def capture() -> None:
        with peer.app.connection() as connection:
            receiver = peer.app.events.Receiver(
                connection, handlers={"*": lambda event: (state.event(event), listening.set())}
            )
            for _ in receiver.itercapture(limit=None, timeout=15, wakeup=False):
                if done.is_set():
                    return

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    assert listening.wait(15)  # a heartbeat arrived: Celery is decoding our events
    result = peer.app.send_task("interop.add", (20, 22))
    assert result.get(timeout=15) == 42

    def succeeded() -> bool:
        task = state.tasks.get(result.id)
        return task is not None and task.state == "SUCCESS"

    assert wait_until(succeeded, timeout=15)
    done.set()
    task = state.tasks[result.id]
    assert task.name == "interop.add" and task.result == "42"
    assert [w.hostname for w in state.alive_workers()]


def test_celeriac_dumps_a_celery_workers_events(make_redis_env: Any) -> None:
    env = make_redis_env()
    env.celery_worker()  # started with Celery's -l info; turn events on remotely
    cel = env.module("rcel_tasks")
    from celeriac.events import EventReceiver

    receiver = EventReceiver(cel.app)
    list(receiver.events(timeout=0))
    cel.app.control.broadcast("enable_events")
    seen: list[str] = []
    result = cel.add.delay(1, 2)

    def saw_success() -> bool:
        seen.extend(event["type"] for event in receiver.events(timeout=0.2))
        return "task-succeeded" in seen

    assert result.get(timeout=15) == 3
    assert wait_until(saw_success, timeout=15) or "task-succeeded" in seen, seen


def test_celeriac_events_dump_shows_a_celery_workers_events(make_redis_env: Any) -> None:
    import os
    import threading

    env = make_redis_env()
    env.celery_worker()
    cel = env.module("rcel_tasks")
    dump = subprocess.Popen(
        [sys.executable, "-m", "celeriac", "-A", "rcel_tasks", "events", "--dump"],
        cwd=env.directory,
        env={**os.environ, **env.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert dump.stdout is not None
        lines.extend(line.rstrip("\n") for line in dump.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Celery's worker sends heartbeats without -E: one shown means the dump listens.
        assert wait_until(lambda: any("] heartbeat" in line for line in lines), timeout=15), lines
        replies = cel.app.control.broadcast("enable_events", reply=True, timeout=2)
        assert replies and "enabled" in str(replies), replies
        result = cel.add.delay(20, 22)
        assert result.get(timeout=15) == 42

        def mine() -> list[str]:
            return [line for line in list(lines) if f"({result.id})" in line]

        assert wait_until(lambda: any("task succeeded" in x for x in mine()), timeout=15), lines
    finally:
        dump.terminate()
        dump.wait(timeout=10)
        reader.join(timeout=10)
        assert dump.stdout is not None
        dump.stdout.close()
        cel.app.control.broadcast("disable_events")
    assert lines[0] == "-> evdump: starting capture..."
    task_lines = mine()
    kinds = [line.split("] ", 1)[1].split(":", 1)[0] for line in task_lines]
    assert kinds == ["task received", "task started", "task succeeded"], task_lines
    assert all(line.startswith("peer@") for line in task_lines)
    assert f"interop.add({result.id}) args=(20, 22) kwargs={{}}" in task_lines[0]
    assert "result=42, runtime=" in task_lines[2]
