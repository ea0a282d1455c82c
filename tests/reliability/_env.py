"""A throwaway project for the reliability tests: its tasks, its workers, its report.

The tasks module is written into the test's directory and reads its broker, backend,
queue and visibility timeout from the environment, so the worker subprocesses and the
test (the client) share one broker. Figures go to ``tests/artifacts/reliability.json``
(one key per test), which docs/reliability.md summarises.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.testing.processes import WorkerProcess

REPORT = Path(__file__).resolve().parents[1] / "artifacts" / "reliability.json"
MODULE = "rel_tasks"

_TASKS = """
import json
import os
import time

from celeriac import Celery

app = Celery("rel", broker=os.environ["REL_BROKER"], backend=os.environ["REL_BACKEND"])
app.conf.update(
    task_default_queue=os.environ["REL_QUEUE"],
    broker_transport_options={
        "visibility_timeout": float(os.environ["REL_VT"]),
        "client_name": os.environ.get("REL_CLIENT", ""),
    },
    broker_connection_retry_on_startup=True,
    result_expires=3600,
)
if os.environ.get("REL_BROKER_SSL"):
    app.conf.broker_use_ssl = json.loads(os.environ["REL_BROKER_SSL"])
if os.environ.get("REL_HMAC"):
    app.conf.update(
        task_serializer="auth",
        accept_content=["auth"],
        result_accept_content=["json"],
        security_hmac_key=os.environ["REL_HMAC"],
    )
    app.setup_security()
if os.environ.get("REL_ALLOW"):
    app.conf.worker_control_allowlist = os.environ["REL_ALLOW"].split(",")
LOG = os.environ["REL_LOG"]


def _record(line):
    # One short O_APPEND write per line: lines from concurrent processes never interleave.
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


@app.task(name="rel.work", bind=True, acks_late=True)
def work(self, n, seconds=0.0):
    _record(self.request.id)
    if seconds:
        time.sleep(seconds)
    return n


@app.task(name="rel.crashy", bind=True, acks_late=True)
def crashy(self, n, crash):
    _record(self.request.id)
    if crash:
        os._exit(3)
    return os.getpid()


@app.task(name="rel.noop", ignore_result=True)
def noop(n):
    return None


@app.task(name="rel.big")
def big(size):
    return "x" * size
"""


@dataclass
class RelEnv:
    """One test's directory, broker, queue, workers and task log."""

    directory: Path
    broker: str
    backend: str
    visibility_timeout: float = 1.0
    queue: str = field(default_factory=lambda: f"rel.{uuid.uuid4().hex[:10]}")
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.directory / "executions.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            "REL_BROKER": self.broker,
            "REL_BACKEND": self.backend,
            "REL_QUEUE": self.queue,
            "REL_VT": str(self.visibility_timeout),
            "REL_LOG": str(self.log),
            "PYTHONPATH": os.pathsep.join([str(self.directory), *sys.path]),
        }

    def module(self) -> ModuleType:
        """The tasks module imported in this process (the client side)."""
        return importlib.import_module(MODULE)

    def worker(
        self, *args: str, kind: type[WorkerProcess] = WorkerProcess, **env: str
    ) -> WorkerProcess:
        """Start ``celeriac -A rel_tasks worker -Q <queue> ARGS``; ready when returned."""
        worker = kind(
            MODULE,
            ["-Q", self.queue, "-n", f"rel-{uuid.uuid4().hex[:6]}@%h", *args],
            cwd=self.directory,
            env={**self.env, **env},
        )
        self.workers.append(worker)
        return worker.start(timeout=60)

    def executions(self) -> list[str]:
        """Task ids, one per execution started, in the order they started."""
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture
def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build a :class:`RelEnv` for a broker URL; its workers are killed at the end."""
    made: list[RelEnv] = []
    (tmp_path / f"{MODULE}.py").write_text(_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop(MODULE, None)

    def make(broker: str, visibility_timeout: float = 1.0, backend: str | None = None) -> RelEnv:
        backend = backend or f"sqlite:///{tmp_path / 'results.sqlite3'}"
        env = RelEnv(tmp_path, broker, backend, visibility_timeout)
        for key, value in env.env.items():
            if key != "PYTHONPATH":
                monkeypatch.setenv(key, value)
        made.append(env)
        return env

    yield make
    for env in made:
        for worker in env.workers:
            worker.kill()
    module: Any = sys.modules.pop(MODULE, None)
    if module is not None:
        module.app.close()


def report(name: str, figures: dict[str, Any]) -> None:
    """Record one test's figures in the report file (merged with the others')."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[name] = figures
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
