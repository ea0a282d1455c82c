"""Worker subprocesses and task modules for the Redis interop and reliability tests.

The same tasks are written twice into the test's directory: ``rcel_tasks`` on
celeriac, ``rpeer_tasks`` on Celery. Both read the broker/backend URL and the
visibility timeout from the environment, so worker subprocesses and in-process clients
of both kinds share one fresh Redis database.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.testing.processes import WorkerProcess

_TASKS = """
import os
import time
from pathlib import Path

{import_line}

app = Celery("rinterop", broker=os.environ["IT_REDIS"], backend=os.environ["IT_REDIS"])
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    broker_transport_options={{
        "visibility_timeout": float(os.environ["IT_VT"]),
        "hold_eta": os.environ.get("IT_HOLD_ETA", "1") == "1",
    }},
)


@app.task(name="interop.add")
def add(x, y):
    return x + y


@app.task(name="interop.hold", acks_late=True)
def hold(path, n):
    # Records each start; waits while the gate file exists (the test removes it).
    with open(path, "a") as fh:
        fh.write(f"start {{n}} {{os.getpid()}}\\n")
    gate = Path(path + ".gate")
    while gate.exists():
        time.sleep(0.05)
    with open(path, "a") as fh:
        fh.write(f"done {{n}}\\n")
    return n


@app.task(name="interop.mul")
def mul(x, y):
    return x * y


@app.task(name="interop.xsum")
def xsum(numbers):
    return sum(numbers)


@app.task(name="interop.long", acks_late=True)
def long(path, seconds):
    with open(path, "a") as fh:
        fh.write("start\\n")
    time.sleep(seconds)
    return seconds
"""


class RedisEnv:
    """One test's directory, environment and worker processes."""

    def __init__(self, directory: Path, redis_url: str, visibility_timeout: float) -> None:
        self.directory = directory
        self.env = {"IT_REDIS": redis_url, "IT_VT": str(visibility_timeout)}
        self.workers: list[WorkerProcess] = []
        for name, line in (
            ("rcel_tasks", "from celeriac import Celery"),
            ("rpeer_tasks", "from celery import Celery"),
        ):
            (directory / f"{name}.py").write_text(_TASKS.format(import_line=line))

    def module(self, name: str) -> ModuleType:
        """Import ``rcel_tasks`` or ``rpeer_tasks`` in this process (fresh)."""
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    def celeriac_worker(self, *args: str) -> WorkerProcess:
        """Start ``celeriac -A rcel_tasks worker -P threads`` and wait until ready."""
        worker = WorkerProcess("rcel_tasks", ["-P", "threads", *args], cwd=self.directory)
        worker.env.update(self.env)
        self.workers.append(worker)
        return worker.start()

    def celery_worker(self) -> WorkerProcess:
        """Start a real Celery worker (solo pool) and wait until ready."""
        worker = WorkerProcess("rpeer_tasks", cwd=self.directory)
        worker.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "rpeer_tasks",
            "worker",
            "-P",
            "solo",
            "-c",
            "1",
            "-n",
            "peer@%h",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
        ]
        worker.env.update(self.env)
        self.workers.append(worker)
        return worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.__exit__(None, None, None)


@pytest.fixture
def make_redis_env(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., RedisEnv]]:
    """Build the test's :class:`RedisEnv`; its workers are stopped at the end."""
    made: list[RedisEnv] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(visibility_timeout: float = 3600.0) -> RedisEnv:
        env = RedisEnv(tmp_path, redis_url, visibility_timeout)
        for key, value in env.env.items():
            monkeypatch.setenv(key, value)
        made.append(env)
        return env

    yield make
    for env in made:
        env.stop()
    for name in ("rcel_tasks", "rpeer_tasks"):
        module: Any = sys.modules.pop(name, None)
        if module is not None and hasattr(module.app, "close"):
            module.app.close()
    os.environ.pop("IT_REDIS", None)
