"""What celeriac promises beyond kombu on Redis: nothing lost, nothing run twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration import _redis_env

pytestmark = [pytest.mark.redis, pytest.mark.e2e]
make_redis_env = _redis_env.make_redis_env  # the fixture
PATIENCE = 30.0


def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkilled_workers_late_acked_messages_are_delivered_again(
    make_redis_env: Any, tmp_path: Path
) -> None:
    env = make_redis_env(visibility_timeout=2.0)
    log = tmp_path / "hold.log"
    gate = Path(str(log) + ".gate")
    gate.touch()
    first = env.celeriac_worker("-c", "2")
    cel = env.module("rcel_tasks")
    results = [cel.hold.delay(str(log), n) for n in range(4)]
    _wait_until(lambda: len(_lines(log)) >= 2, "two tasks to start")
    first.stop(signal.SIGKILL)
    gate.unlink()
    env.celeriac_worker("-c", "2")
    assert sorted(r.get(timeout=PATIENCE) for r in results) == [0, 1, 2, 3]
    done = [line for line in _lines(log) if line.startswith("done")]
    assert sorted(done) == [f"done {n}" for n in range(4)]  # each completed once
    import redis

    client = redis.Redis.from_url(env.env["IT_REDIS"])
    _wait_until(lambda: client.hlen("unacked") == 0, "the late acks")
    assert client.zcard("unacked_index") == 0
    client.close()


def test_task_longer_than_the_visibility_timeout_runs_once(
    make_redis_env: Any, tmp_path: Path
) -> None:
    env = make_redis_env(visibility_timeout=1.0)
    env.celeriac_worker("-c", "1")
    env.celeriac_worker("-c", "1")  # would take the message if its lease ran out
    log = tmp_path / "long.log"
    cel = env.module("rcel_tasks")
    assert cel.long.delay(str(log), 3.5).get(timeout=PATIENCE) == 3.5
    assert _lines(log) == ["start"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_server(port: int) -> Any:
    import shutil
    import subprocess

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = subprocess.Popen([*command, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    _wait_until(lambda: _answers(client), "the private redis-server")
    client.close()
    return server


def _answers(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_worker_survives_a_redis_restart(make_redis_env: Any, tmp_path: Path) -> None:
    port = _free_port()
    server = _redis_server(port)
    try:
        env = make_redis_env()
        url = f"redis://127.0.0.1:{port}/0"
        env.env["IT_REDIS"] = url
        worker = env.celeriac_worker("-c", "1")
        cel = env.module("rcel_tasks")
        cel.app.conf.broker_url = cel.app.conf.result_backend = url
        assert cel.add.delay(1, 2).get(timeout=PATIENCE) == 3
        server.terminate()
        server.wait(10)
        assert worker.wait_for_line("Connection to broker lost", PATIENCE)
        server = _redis_server(port)
        assert cel.add.delay(2, 3).get(timeout=PATIENCE) == 5
        assert worker.process is not None and worker.process.poll() is None
    finally:
        server.terminate()
        server.wait(10)


def test_a_retried_take_keeps_the_first_runs_leases(redis_url: str) -> None:
    """redis-py sends a command again, same arguments, when its connection was lost.

    A take whose reply was lost with the connection (``CLIENT KILL``) thus runs twice.
    The second run must not reuse the first run's lease tags: that overwrote the first
    run's unacked records and lost their messages. They stay leased, unseen by any
    consumer, and come back when their lease expires.
    """
    import redis

    from celeriac.brokers import _redis_scripts
    from celeriac.brokers.redis import RedisBroker
    from celeriac.protocol import build_task_message

    broker = RedisBroker.from_url(redis_url, transport_options={"visibility_timeout": 1.0})
    client = redis.Redis.from_url(redis_url)
    try:
        for n in range(2):
            message = build_task_message(name="t", task_id=f"task-{n}", args=[n])
            broker.publish(message, routing_key="q")
        take = client.register_script(_redis_scripts.TAKE)
        keys, args, layout = broker.plan.take(["q"], 1)
        take(keys=keys, args=args)  # its reply is lost: the consumer never sees task-0
        retried, _, _ = broker.plan.taken(take(keys=keys, args=args), layout)
        assert [d.message.headers["id"] for d in retried] == ["task-1"]
        assert client.hlen(broker.plan.keys.unacked) == 2
        back = broker.get(["q"], timeout=PATIENCE)  # once the first lease expired
        assert back is not None and back.message.headers["id"] == "task-0"
        assert back.redelivered
    finally:
        client.close()
        broker.close()
