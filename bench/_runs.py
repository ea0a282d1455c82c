"""The measurements: each one starts from an empty database and its own worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._proc import TASKS_DIR, Worker, cpu_seconds
from bench._redis import CommandCounter, Marks


@dataclass(frozen=True)
class Settings:
    """What one run measures, and where."""

    server: str  # redis://host:port, no database
    db: int
    workdir: Path
    enqueue_n: int = 10_000
    group_n: int = 10_000
    latency_n: int = 500
    chord_n: int = 1_000
    chain_n: int = 100
    idle_seconds: float = 10.0
    concurrency: int = 2
    loglevel: str = "INFO"
    celeriac_src: Path | None = None  # a src/ directory to run instead of the installed one

    @property
    def python_path(self) -> str:
        """PYTHONPATH of workers and clients: the celeriac under test, then the task modules."""
        paths = [str(self.celeriac_src)] if self.celeriac_src else []
        return os.pathsep.join([*paths, str(TASKS_DIR)])

    @property
    def redis_url(self) -> str:
        return f"{self.server}/{self.db}"


def _loadavg() -> float:
    return os.getloadavg()[0]


class Runner:
    """Runs one measurement at a time for one framework (``celeriac`` or ``celery``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.marks = Marks(settings.redis_url)
        self._logs = 0

    # -- plumbing ---------------------------------------------------------------------

    def env(self, *, broker: str | None = None, backend: str | None = None) -> dict[str, str]:
        return {
            "BENCH_BROKER_URL": broker or self.settings.redis_url,
            "BENCH_RESULT_BACKEND": backend or "",
            "BENCH_MARKS_URL": self.settings.redis_url,
        }

    def client(self, framework: str, operation: str, n: int, env: dict[str, str]) -> Any:
        """Run one client measurement in a fresh process; return its JSON answer."""
        full_env = {**os.environ, **env, "PYTHONPATH": self.settings.python_path}
        done = subprocess.run(
            [sys.executable, str(TASKS_DIR / "client.py"), framework, operation, str(n)],
            cwd=self.settings.workdir,
            env=full_env,
            capture_output=True,
            check=False,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"client {framework} {operation} failed:\n{done.stderr.decode()}")
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    def worker(
        self,
        framework: str,
        env: dict[str, str],
        loglevel: str | None = None,
        extra_args: list[str] | None = None,
    ) -> Worker:
        self._logs += 1
        return Worker(
            framework=framework,
            env=env,
            cwd=self.settings.workdir,
            log_path=self.settings.workdir / f"worker-{self._logs:03d}-{framework}.log",
            loglevel=loglevel or self.settings.loglevel,
            concurrency=self.settings.concurrency,
            python_path=self.settings.python_path,
            extra_args=list(extra_args or []),
        )

    # -- measurements -----------------------------------------------------------------

    def lpush(self) -> dict[str, Any]:
        self.marks.flush()
        result: dict[str, Any] = self.client("raw", "lpush", self.settings.enqueue_n, self.env())
        return result

    def enqueue_and_drain(
        self,
        framework: str,
        *,
        loglevel: str | None = None,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> dict[str, Any]:
        """Enqueue n tasks one ``delay()`` at a time, then start a worker and drain them."""
        self.marks.flush()
        env = env or self.env()
        n = self.settings.enqueue_n
        enqueue = self.client(framework, "enqueue", n, env)
        entry_bytes = self.marks.first_entry_bytes()
        worker = self.worker(framework, env, loglevel, extra_args)
        load_before = _loadavg()
        redis_pid = [self.marks.server_pid()]
        try:
            worker.start()
            first = self.marks.wait("first")
            cpu_first, redis_first = worker.cpu(), cpu_seconds(redis_pid)
            last = self.marks.wait("last")
            cpu_last, redis_last = worker.cpu(), cpu_seconds(redis_pid)
            memory = worker.memory()
            processes = len(worker.tree())
        finally:
            worker.stop()
        return {
            "enqueue": {**enqueue, "entry_bytes": entry_bytes},
            "drain": {
                "tasks": n,
                "start_to_last_s": last - worker.started_at,
                "first_to_last_s": last - first,
                "rate_start": n / (last - worker.started_at),
                "rate_first": (n - 1) / (last - first),
                "cpu_s_first_to_last": cpu_last - cpu_first,
                "cpu_s_per_1000": (cpu_last - cpu_first) / (n - 1) * 1000,
                "cpu_s_total": cpu_last,
                # The server is shared with other test runs: an upper bound.
                "redis_cpu_s_per_1000": (redis_last - redis_first) / (n - 1) * 1000,
                "loadavg_before": load_before,
                "loadavg_after": _loadavg(),
            },
            "memory": {**memory, "processes": processes},
        }

    def bulk(self, framework: str) -> dict[str, Any]:
        self.marks.flush()
        result: dict[str, Any] = self.client(framework, "group", self.settings.group_n, self.env())
        self.marks.flush()
        return result

    def with_results(
        self, framework: str, *, broker: str | None = None, backend: str | None = None
    ) -> dict[str, Any]:
        """Latency, chord and chain against one worker with a result backend."""
        self.marks.flush()
        env = self.env(broker=broker, backend=backend or self.settings.redis_url)
        worker = self.worker(framework, env)
        found: dict[str, Any] = {}
        try:
            worker.start()
            worker.wait_ready()
            found["latency"] = self.client(framework, "latency", self.settings.latency_n, env)
            if broker is None:  # the canvas rows are Redis rows
                found["chord"] = self.client(framework, "chord", self.settings.chord_n, env)
                found["chain"] = self.client(framework, "chain", self.settings.chain_n, env)
        finally:
            worker.stop()
        return found

    def idle(self, framework: str) -> dict[str, Any]:
        """Worker CPU and the commands it sends over ``idle_seconds`` with nothing to do."""
        self.marks.flush()
        worker = self.worker(framework, self.env())
        counter = CommandCounter(self.settings.server, self.settings.db)
        seconds = self.settings.idle_seconds
        try:
            worker.start()
            worker.wait_ready()
            # One task through, so the worker is past start-up and really waiting.
            self.client(framework, "enqueue", 2, self.env())
            self.marks.wait("last")
            counter.start()
            cpu_before, started = worker.cpu_precise(), time.monotonic()
            time.sleep(seconds)  # the measurement window itself, not a wait for a condition
            cpu_after, elapsed = worker.cpu_precise(), time.monotonic() - started
            counter.stop()
        finally:
            worker.stop()
        commands = sum(counter.counts.values())
        return {
            "seconds": elapsed,
            "cpu_s": cpu_after - cpu_before,
            "cpu_percent": (cpu_after - cpu_before) / elapsed * 100,
            "commands": commands,
            "commands_per_s": commands / elapsed,
            "by_command": dict(counter.counts),
            "script_commands": dict(counter.script_counts),
            "connections_seen": len(counter.clients),
        }

    def sqlite(self) -> dict[str, Any]:
        """celeriac on the embedded SQLite broker and backend: drain, then latency."""
        directory = self.settings.workdir / "sqlite"
        directory.mkdir(exist_ok=True)
        for stale in directory.glob("*.sqlite3*"):
            stale.unlink()
        broker = f"sqlite:///{directory}/broker.sqlite3"
        backend = f"sqlite:///{directory}/results.sqlite3"
        drained = self.enqueue_and_drain("celeriac", env=self.env(broker=broker))
        for stale in directory.glob("*.sqlite3*"):
            stale.unlink()
        latency = self.with_results("celeriac", broker=broker, backend=backend)
        return {**drained, **latency}
