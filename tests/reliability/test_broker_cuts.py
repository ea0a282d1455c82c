"""Nothing lost on a broker connection cut: the server closes the test's connections.

While a client publishes ``CELERIAC_RELIABILITY_CUT_TASKS`` tasks (default 2,000,
``acks_late``) and a prefork worker runs them, the broker closes every connection of
this test's processes (worker main process, pool children, publishing client, result
waiters) several times (``CELERIAC_RELIABILITY_CUTS``; by default 10 on Redis, where a
cut is one command, and 4 on RabbitMQ, where each ``rabbitmqctl`` call takes half a
second):

* Redis: ``CLIENT KILL ID`` for each client whose database is the test's own (claimed
  per test session, see tests/conftest.py), so other test runs on the same server are
  untouched. The result backend is on the same database, so its connections are cut
  too, and so are the ``AsyncResult.get`` waiters blocked in their subscriptions.
* RabbitMQ: ``rabbitmqctl close_connection`` for each connection named with this test's
  unique ``client_name`` (transport option). Results are on Redis (not cut here): an
  ``rpc://`` reply sent while its client is disconnected is lost by design (its reply
  queue goes with the connection), so ``rpc://`` makes no promise across a cut.

Every task id must reach SUCCESS, every waiter that was blocked during a cut must
return its task's value, the worker must still run; executions above one per task are
counted and reported (``acks_late`` is at-least-once).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from tests.e2e.wait import wait_until
from tests.reliability._env import RelEnv, report

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.timeout(240)]

TASKS = int(os.environ.get("CELERIAC_RELIABILITY_CUT_TASKS", "2000"))
CUTS = os.environ.get("CELERIAC_RELIABILITY_CUTS")
WAITERS_PER_CUT = 3
AHEAD = 200  # how far the publisher may run past a cut point before the cut
PATIENCE = 120.0
WORKER_ARGS = ("-c", "2", "-P", "prefork")


class Waiter(threading.Thread):
    """``AsyncResult(task_id).get()`` in a thread of its own."""

    def __init__(self, result: Any, expected: int) -> None:
        super().__init__(daemon=True)
        self.result = result
        self.expected = expected
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.result.get(timeout=PATIENCE)
        except BaseException as exc:  # reported by the test
            self.error = exc


class Publisher(threading.Thread):
    """Publishes task ``n`` under ``ids[n]``, up to the limit the test raises cut by cut."""

    def __init__(self, env: RelEnv, ids: list[str], seconds: float, limit: int) -> None:
        super().__init__(daemon=True)
        self.module = env.module()
        self.ids = ids
        self.seconds = seconds
        self.published = 0
        self.error: BaseException | None = None
        self._limit = limit
        self._raised = threading.Condition()

    def allow(self, limit: int) -> None:
        """Let the publisher go on up to ``limit`` tasks."""
        with self._raised:
            self._limit = limit
            self._raised.notify_all()

    def run(self) -> None:
        try:
            for n, task_id in enumerate(self.ids):
                with self._raised:
                    self._raised.wait_for(lambda: n < self._limit, PATIENCE)  # noqa: B023
                self.module.work.apply_async((n, self.seconds), task_id=task_id)
                self.published = n + 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def _run_with_cuts(
    env: RelEnv,
    name: str,
    connections: Callable[[], list[tuple[str, int]]],
    close: Callable[[list[str]], int],
    subscribed: Callable[[list[str]], bool],
    seconds: float,
    cuts: int,
) -> None:
    """Run TASKS tasks, cutting the test's connections ``cuts`` times (see the module doc).

    ``connections`` lists the test's connections as (server-side id, client port);
    ``close`` closes some (returns how many it closed); ``subscribed`` tells whether
    result waiters for these task ids are blocked in their subscriptions; each task
    takes ``seconds``, so that the worker is slower than the publisher.
    """

    def others() -> list[tuple[str, int]]:
        mine = _own_ports()
        return [c for c in connections() if c[1] not in mine]

    def cut() -> tuple[int, int]:
        # The worker has (re)connected: it has a connection of its own to lose.
        assert wait_until(lambda: bool(others()), PATIENCE), "the worker did not reconnect"
        mine, found = _own_ports(), connections()
        closed = close([c[0] for c in found])
        return closed, sum(1 for c in found if c[1] not in mine)

    started = time.monotonic()
    app = env.module().app
    worker = env.worker(*WORKER_ARGS)
    ids = [str(uuid.uuid4()) for _ in range(TASKS)]
    points = [int(TASKS * (k + 1) / (cuts + 1)) for k in range(cuts)]
    # Before each cut the publisher stops at a gate AHEAD tasks past the cut point; the
    # waiters wait for the tasks just past the gate, which are published only once the
    # cut is under way: they are blocked in get() during the cut, whatever its speed.
    publisher = Publisher(env, ids, seconds, points[0] + AHEAD)
    publisher.start()
    waiters: list[Waiter] = []
    blocked = killed = worker_closed = backlog = 0
    for point, following in zip(points, [*points[1:], TASKS], strict=True):
        reached = wait_until(lambda: len(set(env.executions())) >= point, PATIENCE)  # noqa: B023
        assert reached, f"stalled before {point} tasks:\n{worker.output[-3000:]}"
        gate = min(point + AHEAD, TASKS - WAITERS_PER_CUT)
        backlog += publisher.published - len(set(env.executions()))
        batch = [Waiter(app.AsyncResult(ids[n]), n) for n in range(gate, gate + WAITERS_PER_CUT)]
        for waiter in batch:
            waiter.start()
        assert wait_until(lambda: subscribed([w.result.id for w in batch]), PATIENCE)  # noqa: B023
        publisher.allow(min(following + AHEAD, TASKS))  # publishing goes on during the cut
        blocked += sum(1 for waiter in batch if waiter.is_alive())
        closed, others_closed = cut()
        assert others_closed > 0, "the cut closed no connection of the worker"
        killed += closed
        worker_closed += others_closed
        waiters += batch
    publisher.join(PATIENCE)
    assert publisher.error is None, f"publishing failed: {publisher.error!r}"
    assert publisher.published == TASKS
    everything = wait_until(lambda: set(env.executions()) >= set(ids), PATIENCE)
    assert everything, (
        f"{len(set(ids) - set(env.executions()))} tasks never ran:\n{worker.output[-3000:]}"
    )
    backend = app.backend

    def all_succeeded() -> bool:
        return all(backend.get_task_meta(i)["status"] == states.SUCCESS for i in ids)

    assert wait_until(all_succeeded, PATIENCE, step=0.5), "not every task reached SUCCESS"
    for waiter in waiters:
        waiter.join(PATIENCE)
        assert waiter.error is None, f"a waiter failed: {waiter.error!r}"
        assert waiter.value == waiter.expected
    assert blocked > 0, "no waiter was blocked during a cut"
    assert worker.process is not None and worker.process.poll() is None, worker.output[-3000:]
    # Remote control came back too: the worker answers a ping after the last cut.
    hostname = next(line for line in worker.lines if line.endswith(" ready.")).split()[-2]
    answered = wait_until(lambda: bool(app.control.ping([hostname], timeout=1.0)), PATIENCE)
    assert answered, f"{hostname} does not answer remote control after the cuts"
    counts = Counter(env.executions())
    report(
        f"broker_cuts_{name}",
        {
            "tasks": TASKS,
            "cuts": cuts,
            "connections_closed": killed,
            "worker_connections_closed": worker_closed,
            "queued_tasks_at_cuts": backlog,
            "all_success": True,
            "waiters": len(waiters),
            "waiters_blocked_during_a_cut": blocked,
            "executions": sum(counts.values()),
            "duplicates": sum(c - 1 for c in counts.values()),
            "seconds": round(time.monotonic() - started, 1),
        },
    )


def _own_ports() -> set[int]:
    """The local TCP ports of this process's sockets (to tell its connections apart)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# -- Redis --------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis(make_env: Any, redis_url: str) -> None:
    import redis

    env = make_env(redis_url, backend=redis_url)
    control = redis.Redis.from_url(redis_url)
    database = int(redis_url.rsplit("/", 1)[1])

    def connections() -> list[tuple[str, int]]:
        me = control.client_id()
        return [
            (str(client["id"]), int(client["addr"].rsplit(":", 1)[1]))
            for client in control.client_list()
            if int(client["db"]) == database and int(client["id"]) != me
        ]

    def close(client_ids: list[str]) -> int:
        return sum(int(control.execute_command("CLIENT", "KILL", "ID", i)) for i in client_ids)

    def subscribed(task_ids: list[str]) -> bool:
        channels = [f"celery-task-meta-{task_id}" for task_id in task_ids]
        counts = control.pubsub_numsub(*channels)
        return all(int(count) > 0 for _, count in counts)

    try:
        _run_with_cuts(
            env, "redis", connections, close, subscribed, seconds=0.002, cuts=int(CUTS or 10)
        )
    finally:
        control.close()


# -- RabbitMQ -----------------------------------------------------------------------------


def _rabbitmqctl(*args: str, check: bool = True) -> str | None:
    """Run ``rabbitmqctl -q ARGS``; its output, or ``None`` if it failed and not ``check``."""
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        message = "rabbitmqctl is not installed: cannot close connections server-side"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [binary, "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        if not check:
            return None
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@pytest.mark.amqp
@pytest.mark.redis
def test_rabbitmq(
    make_env: Any, amqp_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"rel-cut-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("REL_CLIENT", name)
    env = make_env(amqp_url, backend=redis_url)
    _rabbitmqctl("list_connections", "pid")  # skip or fail early without rabbitmqctl

    def connections() -> list[tuple[str, int]]:
        listed = _rabbitmqctl("list_connections", "pid", "peer_port", "client_properties")
        assert listed is not None
        return [
            (line.split("\t")[0], int(line.split("\t")[1]))
            for line in listed.splitlines()
            if f'{{"connection_name","{name}"}}' in line
        ]

    def close(pids: list[str]) -> int:
        # All at once (rabbitmqctl takes about half a second to start); a connection that
        # went away meanwhile is not an error.
        with ThreadPoolExecutor(len(pids) or 1) as pool:
            done = pool.map(
                lambda pid: _rabbitmqctl("close_connection", pid, "cut", check=False), pids
            )
            return sum(1 for output in done if output is not None)

    def subscribed(task_ids: list[str]) -> bool:
        return True  # the waiters are on Redis, which this test does not cut

    _run_with_cuts(
        env, "rabbitmq", connections, close, subscribed, seconds=0.01, cuts=int(CUTS or 4)
    )
