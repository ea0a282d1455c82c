"""The worker's signals (lifecycle, and what its main process refuses) with Celery's arguments.

A real worker in a thread (``start_worker``) on the memory broker, or on SQLite files
where prefork children take part; the receivers record to a file (tests/e2e/signal_log.py).
``worker_shutting_down``, ``celeryd_*`` and the logging signals belong to the
``celeriac worker`` program: tests/e2e/test_worker_signals.py has them.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import Celery, states
from celeriac.brokers.memory import MemoryBroker
from celeriac.testing.worker import start_worker
from tests.e2e import signal_log
from tests.e2e.wait import wait_until
from tests.unit.worker.test_task_signals import Log, kwargs_of

HOSTNAME = "celery@signals"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Log]:
    monkeypatch.setenv("SIGNAL_LOG", str(tmp_path / "signals.jsonl"))
    signal_log.connect_all()
    yield Log(tmp_path / "signals.jsonl")
    signal_log.disconnect_all()


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"signals-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    app.close()
    MemoryBroker.reset(name)


def test_lifecycle_signals_of_a_solo_worker(log: Log, app: Celery) -> None:
    with start_worker(app, pool="solo", hostname=HOSTNAME):
        ready = log.one("worker_ready")
    init, process_init, shutdown = (
        log.one("worker_init"),
        log.one("worker_process_init"),
        log.one("worker_shutdown"),
    )
    assert init["sender"]["type"] == "Worker" and init["kwargs"] == {}
    # The solo pool runs tasks in the worker's process, which is then the pool process.
    assert process_init["sender"] == {"type": "str", "value": HOSTNAME}
    assert process_init["pid"] == os.getpid() and process_init["kwargs"] == {}
    assert ready["sender"]["type"] == "Consumer" and ready["kwargs"] == {}
    assert shutdown["sender"]["type"] == "Worker" and shutdown["kwargs"] == {}
    heartbeat = log.all("heartbeat_sent")[0]  # with worker-online, as Celery's heart does
    assert heartbeat["kwargs"] == {}
    order = [n for n in log.names() if n.startswith("worker_")]
    assert order == ["worker_init", "worker_process_init", "worker_ready", "worker_shutdown"]


def test_heartbeat_sent_with_each_heartbeat(log: Log, app: Celery) -> None:
    with start_worker(app, pool="solo", heartbeat_interval=0.05):
        assert wait_until(lambda: len(log.all("heartbeat_sent")) >= 3)


def test_no_heartbeat_sent_without_heartbeats(log: Log, app: Celery) -> None:
    with start_worker(app, pool="solo", heartbeat_interval=None):  # --without-heartbeat
        log.one("worker_ready")
    log.one("worker_shutdown")
    assert not log.all("heartbeat_sent")


def test_prefork_children_send_process_init_and_shutdown(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Celery(
        "t",
        broker=f"sqlite:///{tmp_path / 'broker.sqlite3'}",
        backend=f"sqlite:///{tmp_path / 'results.sqlite3'}",
        set_as_current=False,
    )
    with start_worker(app, pool="prefork", concurrency=2, hostname=HOSTNAME):
        assert wait_until(lambda: len(log.all("worker_process_init")) == 2)
    app.close()
    inits = log.all("worker_process_init")
    children = {line["pid"] for line in inits}
    assert len(children) == 2 and os.getpid() not in children
    for line in inits:
        assert line["sender"] == {"type": "str", "value": HOSTNAME} and line["kwargs"] == {}
        assert line["process"].startswith("ForkPoolWorker-")
    # A warm stop lets the children run out of work and exit, each saying so first.
    assert wait_until(lambda: len(log.all("worker_process_shutdown")) == 2)
    for line in log.all("worker_process_shutdown"):
        assert line["sender"] == {"type": "str", "value": HOSTNAME}
        assert kwargs_of(line) == {"pid": "int", "exitcode": "int"}
        assert line["kwargs"]["pid"]["value"] == line["pid"]
        assert line["kwargs"]["exitcode"]["value"] == 0
    assert {line["pid"] for line in log.all("worker_process_shutdown")} == children


def test_a_revoked_task_sends_task_revoked_from_the_task(log: Log, app: Celery) -> None:
    @app.task(name="proj.late")
    def late() -> None:
        return None

    with start_worker(app, pool="solo"):
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
        result = late.apply_async(expires=past)
        revoked = log.one("task_revoked")
        assert result.state == states.REVOKED
    assert revoked["sender"]["name"] == "proj.late"  # the task, as in Celery
    assert kwargs_of(revoked) == {
        "request": "TaskMessage",
        "terminated": "bool",
        "signum": "NoneType",
        "expired": "bool",
    }
    assert revoked["kwargs"]["expired"]["value"] is True
    assert revoked["kwargs"]["terminated"]["value"] is False


def test_an_unknown_task_sends_task_unknown(log: Log, app: Celery) -> None:
    with start_worker(app, pool="solo"):
        result = app.send_task("proj.nobody_knows", (1,))
        unknown = log.one("task_unknown")
        assert result.state == states.FAILURE
    assert unknown["sender"]["type"] == "Consumer"
    assert kwargs_of(unknown) == {
        "message": "Message",
        "exc": "NotRegistered",
        "name": "str",
        "id": "str",
    }
    assert unknown["kwargs"]["name"]["value"] == "proj.nobody_knows"
    assert unknown["kwargs"]["id"]["value"] == result.id


def test_a_message_no_task_can_use_sends_task_rejected(log: Log, app: Celery) -> None:
    app.conf.accept_content = ["json"]
    with start_worker(app, pool="solo"):
        app.send_task("proj.anything", (1,), serializer="pickle")
        rejected = log.one("task_rejected")
    assert rejected["sender"]["type"] == "Consumer"
    assert kwargs_of(rejected) == {"message": "Message", "exc": "ContentDisallowed"}


def test_a_failure_recording_the_outcome_sends_task_internal_error(log: Log, app: Celery) -> None:
    @app.task(name="proj.fine")
    def fine() -> int:
        return 1

    @app.task(name="proj.next")
    def after(value: int) -> int:
        return value

    with start_worker(app, pool="solo"):
        # The task succeeds; sending its callback (with a serializer nobody has) fails.
        fine.apply_async(link=after.s().set(serializer="no-such-serializer"))
        internal = log.one("task_internal_error")
    assert internal["sender"]["name"] == "proj.fine"
    assert kwargs_of(internal) == {
        "task_id": "str",
        "args": "list",
        "kwargs": "dict",
        "request": "Context",
        "exception": internal["kwargs"]["exception"]["type"],
        "traceback": "traceback",
        "einfo": "ExceptionInfo",
    }
