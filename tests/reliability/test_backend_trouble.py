"""Backend trouble: a result the backend refuses, and a backend gone while tasks finish.

A private ``redis-server`` (started by the test, on a free port) is the result backend,
so it can be limited (``proto-max-bulk-len 1mb``: a larger result is refused) and
stopped without disturbing other tests. The broker is SQLite.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from tests.e2e.wait import wait_until
from tests.reliability._env import report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(120)]

PATIENCE = 30.0
LIMIT = 1024 * 1024  # the smallest proto-max-bulk-len Redis accepts
LIMITED = ("--appendonly", "no", "--proto-max-bulk-len", str(LIMIT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` owned by one test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        pytest.importorskip("redis")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *LIMITED],
            stdout=subprocess.DEVNULL,
        )
        assert wait_until(self.answers, PATIENCE), "the private redis-server did not start"

    def answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(_free_port())
    server.start()
    yield server
    server.stop()


def test_result_too_large_is_a_failure(
    make_env: Any, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = make_env(f"sqlite:///{tmp_path}/broker.sqlite3", backend=private_redis.url)
    module = env.module()
    worker = env.worker("-P", "prefork", "-c", "1")
    started = time.monotonic()
    result = module.big.delay(2 * LIMIT)
    with pytest.raises(Exception) as raised:
        result.get(timeout=10)
    assert result.state == states.FAILURE
    message = f"{type(raised.value).__name__}: {raised.value}"
    assert "result" in message.lower(), message
    assert module.big.delay(10).get(timeout=PATIENCE) == "x" * 10
    assert worker.process is not None and worker.process.poll() is None
    report(
        "backend_result_too_large",
        {
            "result_bytes": 2 * LIMIT,
            "backend_limit_bytes": LIMIT,
            "state": result.state,
            "error": message[:300],
            "seconds_to_failure": round(time.monotonic() - started, 1),
        },
    )


def test_backend_unreachable_while_a_task_finishes(
    make_env: Any, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = make_env(f"sqlite:///{tmp_path}/broker.sqlite3", backend=private_redis.url)
    module = env.module()
    worker = env.worker("-P", "prefork", "-c", "1")
    assert module.work.delay(1).get(timeout=PATIENCE) == 1
    first = module.work.delay(2, 1.0)
    assert wait_until(lambda: first.id in env.executions(), PATIENCE)
    private_redis.stop()  # gone while the task sleeps, before it stores its result
    assert worker.wait_for_line(first.id, PATIENCE)
    assert wait_until(
        lambda: any(first.id in line and "ERROR" in line for line in worker.lines), PATIENCE
    ), worker.output[-3000:]
    errors = [line for line in worker.lines if "ERROR" in line]
    assert worker.process is not None and worker.process.poll() is None
    private_redis.start()
    later = module.work.delay(3)
    assert later.get(timeout=PATIENCE) == 3
    assert worker.process.poll() is None
    report(
        "backend_unreachable",
        {
            "worker_alive": True,
            "served_after_backend_back": True,
            "first_error_line": errors[0][:300] if errors else "",
        },
    )
