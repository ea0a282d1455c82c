"""The task signals, sent through a real worker in every pool with Celery's arguments.

The receivers record to a file (tests/e2e/signal_log.py), so what a prefork child sends
reaches the test as well as what the worker's own thread sends. The tasks are shared
tasks, defined before the worker forks its children.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, shared_task, signals, states
from celeriac.exceptions import Retry, TimeLimitExceeded
from celeriac.worker.worker import Worker
from tests.e2e import signal_log
from tests.e2e.wait import wait_until
from tests.unit.worker import _every_pool

# The plugin runs this module's worker once per pool (see _every_pool).
celery_worker_pool = _every_pool.celery_worker_pool
celery_config = _every_pool.celery_config


@shared_task
def ok(x: int, y: int) -> int:
    return x + y


@shared_task
async def async_ok(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


@shared_task
def boom(word: str) -> None:
    raise ValueError(word)


@shared_task(bind=True, max_retries=1)
def again(self: Any) -> str:
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "second time"


@shared_task(time_limit=0.5)
def overstay(marker: str) -> None:
    Path(marker).write_text("started")
    while True:  # until the hard time limit kills the child
        os.sched_yield()


class Log:
    """The signals recorded during one test."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self, name: str, **match: Any) -> list[dict[str, Any]]:
        """The records of signal ``name`` whose kwargs' values match ``match``."""
        found = []
        for line in signal_log.read(self.path):
            kwargs = line["kwargs"]
            if line["signal"] == name and all(
                kwargs.get(key, {}).get("value") == value for key, value in match.items()
            ):
                found.append(line)
        return found

    def one(self, name: str, **match: Any) -> dict[str, Any]:
        """Wait for the record of ``name`` matching ``match``; fail if there is not one."""
        assert wait_until(lambda: bool(self.all(name, **match))), (name, match, self.names())
        [line] = self.all(name, **match)
        return line

    def names(self) -> list[str]:
        return [line["signal"] for line in signal_log.read(self.path)]


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Log]:
    monkeypatch.setenv("SIGNAL_LOG", str(tmp_path / "signals.jsonl"))
    signal_log.connect_all()
    yield Log(tmp_path / "signals.jsonl")
    signal_log.disconnect_all()


def kwargs_of(line: dict[str, Any]) -> dict[str, str]:
    """Each keyword argument's type name."""
    return {key: value["type"] for key, value in line["kwargs"].items()}


def task_name(fn: str) -> str:
    return f"{__name__}.{fn}"


def where(line: dict[str, Any], pool: str) -> None:
    """Task signals are sent where the task runs: a prefork child, else this process."""
    if pool == "prefork":
        assert line["pid"] != os.getpid() and line["process"].startswith("ForkPoolWorker-")
    else:
        assert line["pid"] == os.getpid()


def test_a_successful_task_sends_prerun_success_postrun(
    log: Log, celery_app: Celery, celery_worker: Worker, celery_worker_pool: str
) -> None:
    name = task_name("async_ok" if celery_worker_pool == "asyncio" else "ok")
    result = celery_app.tasks[name].delay(2, 3)
    assert result.get(timeout=20) == 5

    prerun = log.one("task_prerun", task_id=result.id)
    assert prerun["sender"]["name"] == name
    task_type = prerun["sender"]["type"]
    assert kwargs_of(prerun) == {
        "task_id": "str",
        "task": task_type,
        "args": "list",
        "kwargs": "dict",
    }
    assert prerun["kwargs"]["task"]["name"] == name
    assert prerun["kwargs"]["args"]["value"] == [2, 3]
    assert prerun["kwargs"]["kwargs"]["value"] == {}
    where(prerun, celery_worker_pool)

    success = log.one("task_success", result=5)
    assert success["sender"]["name"] == name
    assert kwargs_of(success) == {"result": "int", "runtime": "float"}
    where(success, celery_worker_pool)

    postrun = log.one("task_postrun", task_id=result.id)
    assert postrun["sender"]["name"] == name
    assert set(postrun["kwargs"]) == {"task_id", "task", "args", "kwargs", "retval", "state"}
    assert postrun["kwargs"]["retval"]["value"] == 5
    assert postrun["kwargs"]["state"]["value"] == states.SUCCESS
    where(postrun, celery_worker_pool)
    # In Celery's order, in the one place the task ran (the fixture's ping runs first).
    order = [
        line["signal"]
        for line in signal_log.read(log.path)
        if line["signal"].startswith("task_") and line["sender"].get("name") == name
    ]
    assert order == ["task_prerun", "task_success", "task_postrun"]

    [received, *_] = log.all("task_received")  # main process: the sender is the consumer
    assert received["sender"]["type"] == "Consumer" and set(received["kwargs"]) == {"request"}
    assert received["pid"] == os.getpid()


def test_a_failing_task_sends_failure_and_postrun(
    log: Log, celery_app: Celery, celery_worker: Worker, celery_worker_pool: str
) -> None:
    result = celery_app.tasks[task_name("boom")].delay("kaput")
    with pytest.raises(ValueError, match="kaput"):
        result.get(timeout=20)

    failure = log.one("task_failure", task_id=result.id)
    assert failure["sender"]["name"] == task_name("boom")
    assert kwargs_of(failure) == {
        "task_id": "str",
        "exception": "ValueError",
        "args": "list",
        "kwargs": "dict",
        "traceback": "traceback",
        "einfo": "ExceptionInfo",
    }
    assert failure["kwargs"]["args"]["value"] == ["kaput"]
    where(failure, celery_worker_pool)

    postrun = log.one("task_postrun", task_id=result.id)
    assert postrun["kwargs"]["state"]["value"] == states.FAILURE
    assert postrun["kwargs"]["retval"]["type"] == "ValueError"
    assert not [line for line in log.all("task_success") if line["sender"]["name"] != "celery.ping"]


def test_a_retried_task_sends_retry(
    log: Log, celery_app: Celery, celery_worker: Worker, celery_worker_pool: str
) -> None:
    result = celery_app.tasks[task_name("again")].delay()
    assert result.get(timeout=20) == "second time"

    retry = log.one("task_retry")
    assert retry["sender"]["name"] == task_name("again")
    assert kwargs_of(retry) == {"request": "Context", "reason": "Retry", "einfo": "ExceptionInfo"}
    where(retry, celery_worker_pool)
    assert wait_until(lambda: len(log.all("task_postrun", task_id=result.id)) == 2)
    runs = log.all("task_postrun", task_id=result.id)
    assert [run["kwargs"]["state"]["value"] for run in runs] == [states.RETRY, states.SUCCESS]
    assert runs[0]["kwargs"]["retval"]["type"] == Retry.__name__


@pytest.mark.parametrize("celery_worker_pool", ["prefork"], indirect=True)
def test_a_job_killed_at_its_hard_time_limit_sends_failure_from_the_worker(
    log: Log, celery_app: Celery, celery_worker: Worker, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    result = celery_app.tasks[task_name("overstay")].delay(str(marker))
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=20)
    failure = log.one("task_failure", task_id=result.id)
    assert failure["kwargs"]["exception"]["type"] == "TimeLimitExceeded"
    assert failure["pid"] == os.getpid()  # the child is gone: the worker says it
    assert set(failure["kwargs"]) == {
        "task_id",
        "exception",
        "args",
        "kwargs",
        "traceback",
        "einfo",
    }


def test_the_task_signals_carry_what_celerys_carry() -> None:
    """Run the same tasks through Celery's tracer and celeriac's (``apply``); compare."""
    import celery
    import celery.signals

    def run(app: Any, signals: Any) -> dict[str, dict[str, str]]:
        seen: dict[str, dict[str, str]] = {}

        def receiver(signal: Any, sender: Any, **kwargs: Any) -> None:
            assert sender.name.endswith((".ok", ".boom"))  # the task itself
            kinds = {key: type(value).__name__ for key, value in kwargs.items()}
            seen.setdefault(signal.name, {}).update(kinds)

        @app.task(name="proj.ok")
        def ok(x: int, y: int) -> int:
            return x + y

        @app.task(name="proj.boom")
        def boom(word: str) -> None:
            raise ValueError(word)

        names = ["task_prerun", "task_postrun", "task_success", "task_failure"]
        for name in names:
            getattr(signals, name).connect(receiver, weak=False, dispatch_uid=name)
        try:
            ok.apply((2, 3))
            boom.apply(("kaput",))
        finally:
            for name in names:
                getattr(signals, name).disconnect(dispatch_uid=name)
        return seen

    peer = celery.Celery("peer", broker="memory://", set_as_current=False)
    ours = Celery("ours", broker="memory://", set_as_current=False)
    theirs, mine = run(peer, celery.signals), run(ours, signals)
    assert (
        set(mine) == set(theirs) == {"task_prerun", "task_postrun", "task_success", "task_failure"}
    )
    for name in theirs:
        assert set(mine[name]) == set(theirs[name]), name
        for key, kind in theirs[name].items():
            if key in {"args", "task", "einfo"}:
                continue  # tuple vs list as called; each library's own Task/ExceptionInfo
            assert mine[name][key] == kind, (name, key)
    ours.close()
