"""Memory under load: 100,000 ETA tasks, and 100,000 queued tasks, on one worker.

* **ETA tasks do not accumulate in the worker.** ``CELERIAC_RELIABILITY_ETA_TASKS``
  (default 100,000) tasks with a one-hour countdown are published to a running worker
  (``-P prefork -c 2``). The broker holds them until due (Redis: a sorted set per queue;
  SQLite: rows whose ``not_before`` is in the future), so the worker never takes them.
  Its resident memory (main process plus children, VmRSS from /proc, sampled every
  50 ms) must stay under its idle figure plus ``SLACK_MIB``, while a task sent
  afterwards still runs.
* **Load: 100,000 queued tasks** (``CELERIAC_RELIABILITY_LOAD_TASKS``), no-op, results
  off, drained by one worker: the same memory bound holds while every one completes
  (the queue empties and the worker's ``stats`` count them all), because the worker
  holds at most its prefetch (concurrency x ``worker_prefetch_multiplier``, 2 x 4).

The bound: the messages (headers, properties, body) are more than twice ``SLACK_MIB``
(checked), and a worker holding them as Python objects would need several times their
encoded size, so a worker that kept them would exceed it. ``SLACK_MIB`` leaves room
for the allocator, import-on-first-use and buffers of a worker holding its prefetch.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import pytest

from celeriac.testing.processes import WorkerProcess
from tests.e2e.wait import wait_until
from tests.reliability._bulk import RssSampler, messages, publish_many, tree_rss_kib
from tests.reliability._env import RelEnv, report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(300)]

ETA_TASKS = int(os.environ.get("CELERIAC_RELIABILITY_ETA_TASKS", "100000"))
LOAD_TASKS = int(os.environ.get("CELERIAC_RELIABILITY_LOAD_TASKS", "100000"))
SLACK_MIB = 24
COUNTDOWN = 3600.0
PATIENCE = 120.0
WORKER_ARGS = ("-c", "2", "-P", "prefork")


def _idle_rss(env: RelEnv, pid: int) -> int:
    """The worker tree's resident memory once a first task went through (KiB)."""
    module = env.module()
    assert module.work.delay(1).get(timeout=PATIENCE) == 1
    return tree_rss_kib(pid)


def _eta(env: RelEnv, name: str) -> None:
    module = env.module()
    worker = env.worker(*WORKER_ARGS)
    assert worker.process is not None
    pid = worker.process.pid
    idle = _idle_rss(env, pid)
    sampler = RssSampler(pid)
    sampler.start()
    started = time.monotonic()
    batch = messages("rel.work", ETA_TASKS, countdown=COUNTDOWN)
    message_bytes = publish_many(module.app.broker, env.queue, batch, time.time() + COUNTDOWN)
    published = time.monotonic()
    del batch
    broker = module.app.broker
    assert wait_until(lambda: broker.size(env.queue) >= ETA_TASKS, PATIENCE)
    # A task sent now runs although 100,000 wait before it in the broker.
    sent = time.monotonic()
    assert module.work.delay(7).get(timeout=PATIENCE) == 7
    latency = time.monotonic() - sent
    peak = max(sampler.stop(), tree_rss_kib(pid))
    held = broker.size(env.queue)
    bound = idle + SLACK_MIB * 1024
    assert message_bytes > 2 * (SLACK_MIB + 4) * 1024 * 1024, "the bound would not tell"
    assert held == ETA_TASKS, f"{held} of {ETA_TASKS} eta tasks still held by the broker"
    assert len(env.executions()) == 2, "an eta task ran an hour early"
    assert peak <= bound, f"worker RSS {peak} KiB over the bound {bound} KiB (idle {idle})"
    assert worker.process.poll() is None
    report(
        f"eta_memory_{name}",
        {
            "eta_tasks": ETA_TASKS,
            "countdown_s": COUNTDOWN,
            "message_bytes": message_bytes,
            "idle_worker_rss_kib": idle,
            "peak_worker_rss_kib": peak,
            "bound_kib": bound,
            "publish_seconds": round(published - started, 1),
            "task_after_latency_s": round(latency, 3),
            "rss_samples": sampler.samples,
        },
    )


def test_eta_sqlite(make_env: Any) -> None:
    _eta(make_env(f"sqlite:///{os.getcwd()}/broker.sqlite3"), "sqlite")


@pytest.mark.redis
def test_eta_redis(make_env: Any, redis_url: str) -> None:
    _eta(make_env(redis_url), "redis")


class QuietWorker(WorkerProcess):
    """A worker at ``-l WARNING`` (no line per task), started once its banner is out.

    Its ``ready.`` line is logged at INFO, so it is not printed; the first task the
    test sends waits for the rest of the start-up.
    """

    ready_line = "[tasks]"


def _completed(app: Any, hostname: str, name: str) -> int:
    """How many ``name`` tasks the worker reports it has run (its ``stats``)."""
    replies = app.control.inspect([hostname], timeout=1.0).stats() or {}
    return int(replies.get(hostname, {}).get("total", {}).get(name, 0))


def _load(env: RelEnv, name: str) -> None:
    module = env.module()
    app = module.app
    worker = env.worker(*WORKER_ARGS, "-l", "WARNING", kind=QuietWorker)
    assert worker.process is not None
    pid = worker.process.pid
    idle = _idle_rss(env, pid)
    node = next(a for a in worker.command if a.startswith("rel-"))
    hostname = node.replace("%h", socket.gethostname())
    sampler = RssSampler(pid)
    sampler.start()
    started = time.monotonic()
    batch = messages("rel.noop", LOAD_TASKS)
    message_bytes = publish_many(app.broker, env.queue, batch, None)
    published = time.monotonic()
    del batch
    assert wait_until(lambda: app.broker.size(env.queue) == 0, PATIENCE * 3, step=0.5)
    done = wait_until(
        lambda: _completed(app, hostname, "rel.noop") >= LOAD_TASKS, PATIENCE, step=0.5
    )
    finished = time.monotonic()
    peak = max(sampler.stop(), tree_rss_kib(pid))
    assert done, f"{_completed(app, hostname, 'rel.noop')} of {LOAD_TASKS} completed"
    bound = idle + SLACK_MIB * 1024
    assert message_bytes > 2 * (SLACK_MIB + 4) * 1024 * 1024, "the bound would not tell"
    assert peak <= bound, f"worker RSS {peak} KiB over the bound {bound} KiB (idle {idle})"
    assert worker.process.poll() is None
    report(
        f"load_memory_{name}",
        {
            "tasks": LOAD_TASKS,
            "completed": _completed(app, hostname, "rel.noop"),
            "message_bytes": message_bytes,
            "idle_worker_rss_kib": idle,
            "peak_worker_rss_kib": peak,
            "bound_kib": bound,
            "publish_seconds": round(published - started, 1),
            "drain_seconds": round(finished - started, 1),
            "tasks_per_second": round(LOAD_TASKS / (finished - started)),
        },
    )


@pytest.mark.redis
def test_load_redis(make_env: Any, redis_url: str) -> None:
    _load(make_env(redis_url), "redis")
