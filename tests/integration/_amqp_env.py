"""Shared set-up of the RabbitMQ integration tests: a fresh queue, task modules, workers."""

from __future__ import annotations

import importlib
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
from tests.integration._amqp_apps import write_apps

_MODULES = ("cel_tasks", "peer_tasks")


@dataclass
class AmqpEnv:
    """One test's queue, directory and environment."""

    broker: str
    backend: str
    queue: str
    directory: Path
    workers: list[WorkerProcess] = field(default_factory=list)
    apps: list[Any] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "IT_BROKER": self.broker,
            "IT_BACKEND": self.backend,
            "IT_QUEUE": self.queue,
            "PYTHONPATH": os.pathsep.join([str(self.directory), *sys.path]),
        }

    def module(self, name: str) -> ModuleType:
        """Import ``cel_tasks`` or ``peer_tasks`` (the client side, in this process)."""
        module = importlib.import_module(name)
        self.apps.append(module.app)
        return module

    def celeriac_worker(self, *args: str) -> WorkerProcess:
        """Start ``celeriac -A cel_tasks worker -P threads`` on the test's queue."""
        worker = WorkerProcess(
            "cel_tasks",
            ["-P", "threads", "-Q", self.queue, *args],
            cwd=self.directory,
            env=self.env,
        )
        self.workers.append(worker)
        return worker.start()

    def celery_worker(self, *args: str, pool: str = "solo") -> WorkerProcess:
        """Start a real Celery worker (``-P solo`` unless told) on the test's queue."""
        worker = WorkerProcess("peer_tasks", cwd=self.directory, env=self.env)
        worker.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "peer_tasks",
            "worker",
            "-P",
            pool,
            "-c",
            "1",
            "-n",
            f"peer-{uuid.uuid4().hex[:6]}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "INFO",
            "-Q",
            self.queue,
            *args,
        ]
        self.workers.append(worker)
        return worker.start(timeout=60)


def _forget_modules() -> None:
    for name in _MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def make_env(amqp_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build an :class:`AmqpEnv` for a result backend URL; cleaned up after the test."""
    made: list[AmqpEnv] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    write_apps(tmp_path)
    _forget_modules()

    def make(backend: str = "rpc://") -> AmqpEnv:
        env = AmqpEnv(amqp_url, backend, f"it.{uuid.uuid4().hex[:12]}", tmp_path)
        for key, value in env.env.items():
            if key != "PYTHONPATH":
                monkeypatch.setenv(key, value)
        made.append(env)
        return env

    yield make
    from celeriac.brokers.amqp import AmqpBroker

    for env in made:
        for worker in env.workers:
            worker.kill()
        for app in env.apps:
            app.close()
        admin = AmqpBroker.from_url(amqp_url, transport_options={})
        admin.open()
        admin.delete_queue(env.queue)
        admin.close()
    _forget_modules()
