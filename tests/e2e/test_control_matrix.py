"""Every ``celeriac inspect`` and ``celeriac control`` command against two named workers.

Two worker processes per broker, started once for the module: ``w1`` (prefork, two
children) and ``w2`` (threads, ``--autoscale=3,2``), each consuming ``celery`` and a
queue of its own (``q.w1``, ``q.w2``) so a test can put a task on one worker. Each
command runs through the real command line twice: without ``--destination`` (both
workers answer) and with ``-d w1@host`` (only w1 answers), and the tests read what the
replies say and what changed in the workers. ``shutdown`` comes last: it stops them.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.testing.processes import WorkerProcess
from tests.e2e.conftest import EXAMPLES
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

HOST = socket.gethostname()
W1, W2 = f"w1@{HOST}", f"w2@{HOST}"
NO_REPLY = "Error: No nodes replied within time constraint"


@dataclass
class Cluster:
    """The module's project directory, its two workers and the in-process client."""

    directory: Path
    workers: dict[str, WorkerProcess]
    ctl: ModuleType
    gates: list[Path] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.ctl.app

    def cli(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """``celeriac -A proj ARGS`` (replies awaited ``timeout`` s; 1.5 s by default)."""
        wait = ("-t", str(timeout if timeout is not None else 1.5))
        return subprocess.run(
            [sys.executable, "-m", "celeriac", "-A", "proj", *args, *wait],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def gate(self) -> Path:
        """A fresh directory for :func:`hold` tasks; opened for good at teardown."""
        path = self.directory / f"gate-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        self.gates.append(path)
        return path

    def pid(self, node: str) -> int:
        process = self.workers[node].process
        assert process is not None
        return process.pid


@dataclass(frozen=True)
class Target:
    """Who a command goes to: the CLI words and the nodes expected to answer."""

    words: tuple[str, ...]
    nodes: frozenset[str]


EVERYONE = Target((), frozenset({W1, W2}))
ONLY_W1 = Target(("-d", W1), frozenset({W1}))


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


def _broker_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    import redis

    url = f"{request.getfixturevalue('redis_server')}/{request.getfixturevalue('redis_test_db')}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp(f"control-{request.param}")
    shutil.copytree(EXAMPLES / "proj", directory / "proj")
    shutil.copy(Path(__file__).with_name("control_tasks.py"), directory / "proj" / "ctl.py")
    url = _broker_url(request)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        patch.syspath_prepend(str(directory))
        for name in ("CELERY_BROKER_URL", "CELERIAC_RESULT_BACKEND", "CELERY_RESULT_BACKEND"):
            patch.delenv(name, raising=False)
        if url is None:
            patch.delenv("CELERIAC_BROKER_URL", raising=False)
        else:
            patch.setenv("CELERIAC_BROKER_URL", url)
        _forget("proj")
        common = ("-I", "proj.ctl", "--without-mingle", "--without-gossip")
        workers = {
            W1: WorkerProcess(
                "proj",
                ("-n", "w1@%h", "-P", "prefork", "-c", "2", "-Q", "celery,q.w1", *common),
                cwd=directory,
            ),
            W2: WorkerProcess(
                "proj",
                ("-n", "w2@%h", "-P", "threads", "--autoscale=3,2", "-Q", "celery,q.w2", *common),
                cwd=directory,
            ),
        }
        made = Cluster(directory, workers, importlib.import_module("proj.ctl"))
        try:
            for worker in workers.values():
                worker.start()
            yield made
        finally:
            for gate in made.gates:
                (gate / "release").touch()
            for worker in workers.values():
                worker.__exit__(None, None, None)
            made.app.close()
            _forget("proj")
            if url is not None:
                import redis

                redis.Redis.from_url(url).flushdb()


@pytest.fixture(params=[EVERYONE, ONLY_W1], ids=["everyone", "only-w1"])
def target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


def ask(cluster: Cluster, target: Target, kind: str, command: str, *words: str) -> dict[str, Any]:
    """Run ``KIND COMMAND WORDS -j`` at ``target``: ``{node: reply}``, from exactly its nodes."""
    done = cluster.cli(kind, command, *words, *target.words, "-j")
    assert done.returncode == 0, (done.stdout, done.stderr)
    parsed = json.loads(done.stdout)
    replies = parsed if isinstance(parsed, dict) else {k: v for r in parsed for k, v in r.items()}
    assert set(replies) == target.nodes, (command, replies)
    return replies


def call(
    cluster: Cluster, command: str, nodes: frozenset[str] = EVERYONE.nodes, **arguments: Any
) -> dict[str, Any]:
    """Send ``command`` from Python to ``nodes``, for checks around the command under test.

    The reply comes as soon as each node answered, without waiting out a timeout.
    """
    replies = cluster.app.control.broadcast(
        command, arguments=arguments, destination=sorted(nodes), reply=True, timeout=10
    )
    merged = {node: reply for one in replies for node, reply in one.items()}
    assert set(merged) == nodes, (command, merged)
    return merged


def stats(cluster: Cluster, node: str) -> dict[str, Any]:
    return call(cluster, "stats", frozenset({node}))[node]


def children(cluster: Cluster) -> list[int]:
    """w1's prefork children, as ``inspect stats`` lists them; each one alive."""
    pids: list[int] = stats(cluster, W1)["pool"]["processes"]
    assert all(Path(f"/proc/{pid}").exists() for pid in pids), pids
    return pids


# -- inspect: the questions that need no task --------------------------------------------

Check = Callable[[Cluster, str, Any], None]


def _stats(cluster: Cluster, node: str, reply: Any) -> None:
    assert reply["pid"] == cluster.pid(node)
    assert reply["sw_ident"] == "celeriac" and reply["uptime"] >= 0
    assert reply["broker"]["transport"] == (
        "sqlite" if "sqlite" in cluster.app.broker_url else "redis"
    )
    pool = reply["pool"]
    if node == W1:
        assert pool["max-concurrency"] == len(pool["processes"]) == 2
    else:
        assert reply["autoscaler"]["max"] == 3 and reply["autoscaler"]["min"] == 2


def _conf(cluster: Cluster, node: str, reply: Any) -> None:
    assert reply["include"] == ["proj.tasks"]
    assert reply["worker_pool_restarts"] is True  # set by proj.ctl, imported with -I
    assert reply["result_expires"] == 3600


INSPECT_CHECKS: dict[str, tuple[tuple[str, ...], Check]] = {
    "ping": ((), lambda c, node, reply: _eq(reply, {"ok": "pong"})),
    "registered": (
        (),
        lambda c, node, reply: _has(reply, "proj.tasks.add", "proj.ctl.hold", "proj.ctl.stamp"),
    ),
    "stats": ((), _stats),
    "active_queues": (
        (),
        lambda c, node, reply: _eq(
            sorted(q["name"] for q in reply), ["celery", f"q.{node.split('@')[0]}"]
        ),
    ),
    "conf": ((), _conf),
    "report": ((), lambda c, node, reply: _has(reply["ok"], "software -> celeriac:", "broker -> ")),
    "clock": ((), lambda c, node, reply: _eq(type(reply["clock"]), int)),
    "memsample": ((), lambda c, node, reply: _eq(bool(re.fullmatch(r"\d+\.\d\dMiB", reply)), True)),
    # What these list once tasks exist: the tests with tasks below.
    "revoked": ((), lambda c, node, reply: _eq(type(reply), list)),
    "query_task": (("no-such-id",), lambda c, node, reply: _eq(reply, {})),
    "active": ((), lambda c, node, reply: _eq(type(reply), list)),
    "reserved": ((), lambda c, node, reply: _eq(type(reply), list)),
    "scheduled": ((), lambda c, node, reply: _eq(type(reply), list)),
}


def _eq(got: Any, expected: Any) -> None:
    assert got == expected


def _has(container: Any, *items: str) -> None:
    for item in items:
        assert item in container, (item, container)


@pytest.mark.parametrize("command", sorted(INSPECT_CHECKS))
def test_inspect(cluster: Cluster, target: Target, command: str) -> None:
    words, check = INSPECT_CHECKS[command]
    replies = ask(cluster, target, "inspect", command, *words)
    for node, reply in replies.items():
        check(cluster, node, reply)


def test_the_inspect_list_has_every_command() -> None:
    from celeriac.app.remote_commands import commands_of

    assert set(commands_of("inspect")) == set(INSPECT_CHECKS)


def test_human_output(cluster: Cluster, target: Target) -> None:
    done = cluster.cli("inspect", "ping", *target.words)
    assert done.returncode == 0, done.stderr
    for node in target.nodes:
        assert f"->  {node}: OK\n        pong" in done.stdout
    count = len(target.nodes)
    assert f"{count} {'node' if count == 1 else 'nodes'} online." in done.stdout
    done = cluster.cli("control", "rate_limit", "proj.tasks.add", "100/s", *target.words)
    for node in target.nodes:
        assert f"->  {node}: OK\n        new rate limit set successfully" in done.stdout
    assert "online" not in done.stdout


@pytest.mark.parametrize(
    "words",
    [("inspect", "ping"), ("inspect", "active"), ("control", "heartbeat"), ("status",)],
)
def test_nobody_matches(cluster: Cluster, words: tuple[str, ...]) -> None:
    done = cluster.cli(*words, "-d", f"nobody@{HOST}", timeout=0.5)
    assert done.returncode == 69
    assert NO_REPLY in done.stderr


# -- inspect: tasks running, reserved, scheduled ------------------------------------------


def send_holds(cluster: Cluster, gate: Path, nodes: frozenset[str], count: int) -> list[Any]:
    """``count`` hold tasks on each node's own queue."""
    return [
        cluster.ctl.hold.apply_async((str(gate), f"{node}-{i}"), queue=f"q.{node.split('@')[0]}")
        for node in sorted(nodes)
        for i in range(count)
    ]


def finish(gate: Path, results: list[Any]) -> None:
    """Let every hold task of ``gate`` end, and wait until each one did."""
    (gate / "release").touch()
    assert wait_until(lambda: all(r.ready() for r in results), timeout=30)


def test_inspect_active_query_task_and_revoke_terminate(cluster: Cluster, target: Target) -> None:
    gate = cluster.gate()
    running = send_holds(cluster, gate, EVERYONE.nodes, 1)
    assert wait_until(lambda: all((gate / f"{r.id}.started").exists() for r in running), 20)
    by_node = dict(zip(sorted(EVERYONE.nodes), running, strict=True))
    active = ask(cluster, target, "inspect", "active")
    for node in target.nodes:
        [info] = [i for i in active[node] if i["id"] == by_node[node].id]
        assert info["name"] == info["type"] == "proj.ctl.hold"
        assert info["args"] == [str(gate), f"{node}-0"] and info["kwargs"] == {}
        assert info["hostname"] == node and info["acknowledged"] is True
        assert isinstance(info["time_start"], float)
        child = int((gate / f"{by_node[node].id}.started").read_text())
        assert info["worker_pid"] == child
        if node == W1:  # a prefork child, not the worker itself
            assert child != cluster.pid(W1) and child in children(cluster)
    ids = [r.id for r in running]
    queried = ask(cluster, target, "inspect", "query_task", *ids)
    for node in target.nodes:
        assert list(queried[node]) == [by_node[node].id]
        state, info = queried[node][by_node[node].id]
        assert state == "active" and info["hostname"] == node
    replies = ask(cluster, target, "control", "revoke", *ids, "--terminate", "--signal", "SIGKILL")
    for node in target.nodes:
        assert replies[node] == {"ok": f"terminate: {by_node[node].id}"}
        assert wait_until(lambda n=node: by_node[n].state == "REVOKED", 20)  # type: ignore[misc]
    for node in EVERYONE.nodes - target.nodes:  # not addressed: still running there
        alone = frozenset({node})
        assert by_node[node].id in [i["id"] for i in call(cluster, "active", alone)[node]]
    finish(gate, running)


def test_inspect_reserved(cluster: Cluster, target: Target) -> None:
    gate = cluster.gate()
    sent = send_holds(cluster, gate, target.nodes, 6)  # more than either pool runs at once
    ids = {r.id for r in sent}

    assert wait_until(lambda: all(call(cluster, "reserved", target.nodes).values()), 20)
    for node, infos in ask(cluster, target, "inspect", "reserved").items():
        assert infos, node
        for info in infos:
            assert info["id"] in ids and info["hostname"] == node
            assert info["name"] == "proj.ctl.hold" and info["time_start"] is None
            assert info["args"][0] == str(gate) and info["args"][1].startswith(node)
    finish(gate, sent)


def test_inspect_scheduled_and_revoked(cluster: Cluster, target: Target) -> None:
    later = cluster.ctl.where.apply_async(countdown=300, queue="q.w1")
    scheduled = ask(cluster, target, "inspect", "scheduled")
    # ETA tasks wait in the broker, not in a worker (docs/migrating.md).
    assert all(reply == [] for reply in scheduled.values())
    reserved = ask(cluster, target, "inspect", "reserved")
    assert later.id not in {i["id"] for infos in reserved.values() for i in infos}
    replies = ask(cluster, target, "control", "revoke", later.id)
    for node in target.nodes:
        assert replies[node] == {"ok": f"tasks {later.id} flagged as revoked"}
    revoked = ask(cluster, target, "inspect", "revoked")
    for node in target.nodes:
        assert later.id in revoked[node]


# -- control ---------------------------------------------------------------------------


def test_enable_and_disable_events(cluster: Cluster, target: Target) -> None:
    call(cluster, "disable_events")
    replies = ask(cluster, target, "control", "enable_events")
    assert all(reply == {"ok": "task events enabled"} for reply in replies.values())
    # Asked again, the addressed workers already send them; the others start now.
    again = call(cluster, "enable_events")
    for node, reply in again.items():
        word = "already enabled" if node in target.nodes else "enabled"
        assert reply == {"ok": f"task events {word}"}
    replies = ask(cluster, target, "control", "disable_events")
    assert all(reply == {"ok": "task events disabled"} for reply in replies.values())
    again = call(cluster, "disable_events")
    for node, reply in again.items():
        word = "already disabled" if node in target.nodes else "disabled"
        assert reply == {"ok": f"task events {word}"}


def test_heartbeat(cluster: Cluster, target: Target) -> None:
    replies = ask(cluster, target, "control", "heartbeat")
    assert all(reply is None for reply in replies.values())  # as Celery's workers answer


def registered_with(cluster: Cluster, *fields: str) -> dict[str, list[str]]:
    return call(cluster, "registered", taskinfoitems=list(fields))


def test_rate_limit(cluster: Cluster, target: Target) -> None:
    replies = ask(cluster, target, "control", "rate_limit", "proj.ctl.stamp", "4/s")
    assert all(r == {"ok": "new rate limit set successfully"} for r in replies.values())
    listed = registered_with(cluster, "rate_limit")
    for node in EVERYONE.nodes:
        limited = "proj.ctl.stamp [rate_limit=4/s]" in listed[node]
        assert limited == (node in target.nodes), listed[node]
    path = cluster.directory / f"stamps-{uuid.uuid4().hex[:8]}"
    results = [cluster.ctl.stamp.apply_async((str(path),), queue="q.w1") for _ in range(9)]
    assert wait_until(lambda: all(r.ready() for r in results), timeout=30)
    stamps = sorted(float(line) for line in path.read_text().split())
    # 4 a second: the 9 tasks started over at least 8 quarter-seconds (a tolerance kept).
    assert len(stamps) == 9 and stamps[-1] - stamps[0] >= 8 * 0.25 * 0.8, stamps
    replies = call(cluster, "rate_limit", task_name="proj.ctl.stamp", rate_limit=None)
    for node, reply in replies.items():
        assert reply == {"ok": "rate limit disabled successfully"}, node
    assert "proj.ctl.stamp" in registered_with(cluster, "rate_limit")[W1]


def test_time_limit(cluster: Cluster, target: Target) -> None:
    replies = ask(cluster, target, "control", "time_limit", "proj.ctl.hold", "0.5", "1")
    assert all(r == {"ok": "time limits set successfully"} for r in replies.values())
    listed = registered_with(cluster, "time_limit", "soft_time_limit")
    for node in EVERYONE.nodes:
        limited = "proj.ctl.hold [time_limit=1.0 soft_time_limit=0.5]" in listed[node]
        assert limited == (node in target.nodes), listed[node]
    gate = cluster.gate()
    [held] = send_holds(cluster, gate, frozenset({W1}), 1)  # never released: the limit ends it
    assert wait_until(held.ready, timeout=20)
    assert held.state == "FAILURE"
    assert type(held.result).__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded")
    call(cluster, "time_limit", task_name="proj.ctl.hold", soft=None, hard=None)
    assert "proj.ctl.hold" in registered_with(cluster, "time_limit")[W1]


def test_pool_grow_and_shrink(cluster: Cluster, target: Target) -> None:
    before = children(cluster)
    replies = ask(cluster, target, "control", "pool_grow", "1")
    assert replies[W1] == {"ok": "pool will grow"}
    if W2 in replies:  # w2 autoscales: it says so, as Celery's workers do
        assert replies[W2]["error"].startswith("pool_grow is not supported with autoscale")
    assert wait_until(lambda: len(children(cluster)) == len(before) + 1, 20)
    assert stats(cluster, W1)["pool"]["max-concurrency"] == len(before) + 1
    replies = ask(cluster, target, "control", "pool_shrink", "1")
    assert replies[W1] == {"ok": "pool will shrink"}
    assert wait_until(lambda: len(children(cluster)) == len(before), 20)
    assert stats(cluster, W1)["pool"]["max-concurrency"] == len(before)


def test_autoscale(cluster: Cluster, target: Target) -> None:
    replies = ask(cluster, target, "control", "autoscale", "4", "1")
    assert replies[W1] == {"error": "ValueError('Autoscale not enabled')"}
    if W2 in replies:
        assert replies[W2] == {"ok": "autoscale now max=4 min=1"}
        assert {k: stats(cluster, W2)["autoscaler"][k] for k in ("max", "min")} == {
            "max": 4,
            "min": 1,
        }
        call(cluster, "autoscale", frozenset({W2}), max=3, min=2)


def test_pool_restart(cluster: Cluster, target: Target) -> None:
    before = set(children(cluster))
    replies = ask(cluster, target, "control", "pool_restart")
    assert all(reply == {"ok": "reload started"} for reply in replies.values())
    # Every child of w1 is replaced by a new one.
    assert wait_until(
        lambda: len(now := set(children(cluster))) == len(before) and not now & before, 20
    )
    assert cluster.ctl.where.apply_async(queue="q.w1").get(timeout=20) == W1


def test_add_and_cancel_consumer(cluster: Cluster, target: Target) -> None:
    queue = f"q.new-{uuid.uuid4().hex[:6]}"
    replies = ask(cluster, target, "control", "add_consumer", queue)
    assert all(reply == {"ok": f"add consumer {queue}"} for reply in replies.values())
    listed = call(cluster, "active_queues")
    for node in EVERYONE.nodes:
        assert (queue in [q["name"] for q in listed[node]]) == (node in target.nodes)
    ran = [cluster.ctl.where.apply_async(queue=queue) for _ in range(4)]
    assert {r.get(timeout=20) for r in ran} <= target.nodes
    replies = ask(cluster, target, "control", "cancel_consumer", queue)
    assert all(reply == {"ok": f"no longer consuming from {queue}"} for reply in replies.values())
    listed = call(cluster, "active_queues")
    assert all(queue not in [q["name"] for q in listed[node]] for node in EVERYONE.nodes)
    stranded = cluster.ctl.where.apply_async(queue=queue)
    # A task sent after it on a queue still consumed completes; the stranded one waits.
    assert cluster.ctl.where.apply_async(queue="q.w1").get(timeout=20) == W1
    assert stranded.state == "PENDING"
    assert cluster.app.broker.purge(queue) == 1


def test_the_control_list_has_every_command() -> None:
    from celeriac.app.remote_commands import commands_of

    tested = {
        "add_consumer", "autoscale", "cancel_consumer", "disable_events", "enable_events",
        "heartbeat", "pool_grow", "pool_restart", "pool_shrink", "rate_limit", "revoke",
        "shutdown", "terminate", "time_limit",
    }  # fmt: skip
    assert set(commands_of("control")) == tested


def test_terminate(cluster: Cluster, target: Target) -> None:
    gate = cluster.gate()
    running = send_holds(cluster, gate, target.nodes, 1)
    assert wait_until(lambda: all((gate / f"{r.id}.started").exists() for r in running), 20)
    replies = ask(cluster, target, "control", "terminate", "SIGTERM", *[r.id for r in running])
    for node, reply in replies.items():
        [mine] = [r for r in running if r.id in reply["ok"]]
        assert reply == {"ok": f"terminate: {mine.id}"} and node in target.nodes
    assert wait_until(lambda: all(r.state == "REVOKED" for r in running), 20)
    finish(gate, running)


# -- last: shutdown stops the workers ---------------------------------------------------


def test_shutdown_one_then_all(cluster: Cluster) -> None:
    done = cluster.cli("control", "shutdown", "-d", W1, timeout=0.5)
    # A worker told to shut down answers nothing, as Celery's; so nobody replied.
    assert done.returncode == 69 and NO_REPLY in done.stderr
    w1 = cluster.workers[W1].process
    assert w1 is not None and w1.wait(timeout=30) == 0
    assert ask(cluster, Target((), frozenset({W2})), "inspect", "ping") == {W2: {"ok": "pong"}}
    cluster.cli("control", "shutdown", timeout=0.5)
    w2 = cluster.workers[W2].process
    assert w2 is not None and w2.wait(timeout=30) == 0
