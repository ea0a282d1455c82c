"""A task base class's handler methods, called by a real worker in every pool.

The handlers of :class:`Recording` append to the same file as the task signals
(tests/e2e/signal_log.py), so what a prefork child calls reaches the test, and the order
of handlers and signals is on one line-by-line record. Each handler also records the
state stored for the task when it ran, to pin Celery's order against the result store.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, Task, shared_task, states
from celeriac.app.task_handlers import overridden_handlers
from celeriac.worker.worker import Worker
from tests.e2e import signal_log
from tests.e2e.wait import wait_until
from tests.unit.worker import _every_pool

# The plugin runs this module's worker once per pool (see _every_pool).
celery_worker_pool = _every_pool.celery_worker_pool
celery_config = _every_pool.celery_config

SIGNALS = ("task_prerun", "task_success", "task_failure", "task_retry", "task_postrun")
# Signals and handlers of a task that succeeds, in Celery's order.
SUCCESS_ORDER = [
    "task_prerun",
    "before_start",
    "on_success",
    "task_success",
    "after_return",
    "task_postrun",
]


def note(handler: str, task_id: str | None, **values: Any) -> None:
    """One line in $SIGNAL_LOG for a handler call (beside the signals' lines)."""
    path = os.environ.get("SIGNAL_LOG")
    if not path:
        return
    line = {
        "signal": handler,
        "task_id": task_id,
        "pid": os.getpid(),
        "process": multiprocessing.current_process().name,
        "values": {key: signal_log.describe(value) for key, value in values.items()},
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


class Recording(Task[Any, Any]):
    """Overrides every handler; each records its arguments and the stored state."""

    def stored(self, task_id: str) -> str:
        return self.AsyncResult(task_id).state

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        request_id = self.request.id
        note(
            "before_start", task_id, args=args, kwargs=kwargs, request_id=request_id, name=self.name
        )

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        note("on_success", task_id, retval=retval, args=args, stored=self.stored(task_id))
        if kwargs.get("raise_in_handler"):
            raise RuntimeError("a broken handler")

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        traceback = einfo.traceback
        note("on_failure", task_id, exc=exc, einfo=einfo, tb=traceback, stored=self.stored(task_id))

    def on_retry(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        note("on_retry", task_id, exc=exc, einfo=einfo, reason=einfo.exception)

    def after_return(
        self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        note("after_return", task_id, status=status, retval=retval, args=args, einfo=einfo)


@shared_task(base=Recording)
def hooked_add(x: int, y: int, raise_in_handler: bool = False) -> int:
    return x + y


@shared_task(base=Recording)
async def hooked_async_add(x: int, y: int, raise_in_handler: bool = False) -> int:
    await asyncio.sleep(0)
    return x + y


@shared_task(base=Recording)
def hooked_boom(word: str) -> None:
    raise ValueError(word)


@shared_task(base=Recording, bind=True, max_retries=1)
def hooked_again(self: Any) -> str:
    if self.request.retries == 0:
        raise self.retry(exc=KeyError("first"), countdown=0)
    return "second time"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "signals.jsonl"
    monkeypatch.setenv("SIGNAL_LOG", str(path))
    signal_log.connect_all()
    yield path
    signal_log.disconnect_all()


def events(path: Path, task_id: str) -> list[dict[str, Any]]:
    """The handler calls and task signals of one task, in the order they happened.

    A test runs one task of its name (the worker fixture's ping is another task).
    """
    lines = signal_log.read(path)
    starts = [line for line in lines if line["signal"] == "before_start"]
    name = next(
        (line["values"]["name"]["value"] for line in starts if line["task_id"] == task_id), ""
    )
    return [
        line
        for line in lines
        if line.get("task_id") == task_id
        or (line["signal"] in SIGNALS and line["sender"].get("name") == name)
    ]


def names(path: Path, task_id: str) -> list[str]:
    return [line["signal"] for line in events(path, task_id)]


def values(path: Path, task_id: str, name: str) -> dict[str, Any]:
    [line] = [line for line in events(path, task_id) if line["signal"] == name]
    return dict(line["values"])


def where(line: dict[str, Any], pool: str) -> None:
    if pool == "prefork":
        assert line["pid"] != os.getpid() and line["process"].startswith("ForkPoolWorker-")
    else:
        assert line["pid"] == os.getpid()


def task_name(fn: str) -> str:
    return f"{__name__}.{fn}"


def test_success_calls_before_start_on_success_after_return_in_celerys_order(
    log: Path, celery_app: Celery, celery_worker: Worker, celery_worker_pool: str
) -> None:
    fn = "hooked_async_add" if celery_worker_pool == "asyncio" else "hooked_add"
    result = celery_app.tasks[task_name(fn)].delay(2, 3)
    assert result.get(timeout=20) == 5
    assert wait_until(lambda: "task_postrun" in names(log, result.id))
    assert names(log, result.id) == SUCCESS_ORDER
    before = values(log, result.id, "before_start")
    assert before["args"]["value"] == [2, 3] and before["kwargs"]["value"] == {}
    assert before["request_id"]["value"] == result.id  # the request is current
    success = values(log, result.id, "on_success")
    assert success["retval"]["value"] == 5 and success["args"]["value"] == [2, 3]
    assert success["stored"]["value"] == states.SUCCESS  # stored before on_success
    after = values(log, result.id, "after_return")
    assert after["status"]["value"] == states.SUCCESS and after["retval"]["value"] == 5
    assert after["einfo"]["value"] is None
    for line in events(log, result.id):
        where(line, celery_worker_pool)


def test_failure_calls_on_failure_after_the_state_is_stored(
    log: Path, celery_app: Celery, celery_worker: Worker, celery_worker_pool: str
) -> None:
    result = celery_app.tasks[task_name("hooked_boom")].delay("kaput")
    with pytest.raises(ValueError, match="kaput"):
        result.get(timeout=20)
    assert wait_until(lambda: "task_postrun" in names(log, result.id))
    assert names(log, result.id) == [
        "task_prerun",
        "before_start",
        "on_failure",
        "task_failure",
        "after_return",
        "task_postrun",
    ]
    failure = values(log, result.id, "on_failure")
    assert failure["exc"]["type"] == "ValueError" and failure["einfo"]["type"] == "ExceptionInfo"
    assert "ValueError: kaput" in failure["tb"]["value"]
    assert failure["stored"]["value"] == states.FAILURE
    after = values(log, result.id, "after_return")
    assert after["status"]["value"] == states.FAILURE and after["retval"]["type"] == "ValueError"
    assert after["args"]["value"] == ["kaput"] and after["einfo"]["value"] is None


def test_retry_calls_on_retry_with_the_cause_and_no_after_return(
    log: Path, celery_app: Celery, celery_worker: Worker, celery_worker_pool: str
) -> None:
    result = celery_app.tasks[task_name("hooked_again")].delay()
    assert result.get(timeout=20) == "second time"
    assert wait_until(lambda: names(log, result.id).count("task_postrun") == 2)
    assert names(log, result.id) == [
        "task_prerun",
        "before_start",
        "on_retry",
        "task_retry",
        "task_postrun",  # RETRY: no after_return, as in Celery
        *SUCCESS_ORDER,
    ]
    retry = values(log, result.id, "on_retry")
    assert retry["exc"]["type"] == "KeyError"  # the exc given to retry()
    assert retry["einfo"]["type"] == "ExceptionInfo" and retry["reason"]["type"] == "Retry"


@pytest.mark.parametrize("celery_worker_pool", ["solo", "prefork"], indirect=True)
def test_a_handler_that_raises_is_logged_and_the_outcome_stands(
    log: Path, celery_app: Celery, celery_worker: Worker
) -> None:
    result = celery_app.tasks[task_name("hooked_add")].delay(2, 3, raise_in_handler=True)
    assert result.get(timeout=20) == 5
    assert wait_until(lambda: "task_postrun" in names(log, result.id))
    assert "after_return" in names(log, result.id)
    assert result.state == states.SUCCESS


def test_a_handler_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = Celery("handlers", backend="cache+memory://", set_as_current=False)
    add = app.task(base=Recording, name="proj.add")(hooked_add.run)
    with caplog.at_level("ERROR", logger="celeriac.worker.task_handlers"):
        assert add.apply((2, 3), {"raise_in_handler": True}).get() == 5
    [record] = caplog.records
    assert "proj.add" in record.getMessage() and "on_success handler raised" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_apply_calls_the_handlers(log: Path) -> None:
    app = Celery("handlers", backend="cache+memory://", set_as_current=False)
    add = app.task(base=Recording, name="proj.add")(hooked_add.run)
    result = add.apply((2, 3))
    assert result.get() == 5
    assert names(log, result.id) == SUCCESS_ORDER


def test_before_start_raising_fails_the_task() -> None:
    class Refusing(Task[Any, Any]):
        def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
            raise PermissionError("not now")

    app = Celery("handlers", backend="cache+memory://", set_as_current=False)
    ran: list[int] = []
    add = app.task(base=Refusing, name="proj.add")(ran.append)
    result = add.apply((1,))
    assert result.state == states.FAILURE and isinstance(result.result, PermissionError)
    assert ran == []


def test_which_handlers_a_class_overrides_is_found_once_per_class() -> None:
    assert overridden_handlers(Task) == frozenset()
    assert Celery("plain", set_as_current=False).task(lambda: None)._handlers == frozenset()
    assert overridden_handlers(Recording) == {
        "before_start",
        "on_success",
        "on_failure",
        "on_retry",
        "after_return",
    }

    class OnlyFailure(Task[Any, Any]):
        def on_failure(self, *args: Any) -> None:
            pass

    assert overridden_handlers(OnlyFailure) == {"on_failure"}


def test_the_handlers_get_what_celerys_get() -> None:
    """The same base class through Celery's eager tracer and celeriac's: same calls."""
    import celery

    def run(app: Any, base: type) -> list[tuple[str, tuple[str, ...]]]:
        calls: list[tuple[str, tuple[str, ...]]] = []

        def recorder(name: str) -> Any:
            def handler(self: Any, *args: Any) -> None:
                calls.append((name, tuple(type(arg).__name__ for arg in args)))

            return handler

        handlers = ("before_start", "on_success", "on_failure", "on_retry", "after_return")
        custom = type("Custom", (base,), {name: recorder(name) for name in handlers})

        @app.task(base=custom, name="proj.ok")
        def ok(x: int, y: int) -> int:
            return x + y

        @app.task(base=custom, name="proj.boom")
        def boom(word: str) -> None:
            raise ValueError(word)

        ok.apply((2, 3))
        boom.apply(("kaput",))
        return calls

    theirs = run(celery.Celery("theirs", set_as_current=False), celery.Task)
    ours = run(Celery("ours", backend="cache+memory://", set_as_current=False), Task)
    # Eager args are a tuple in Celery and a list here (as a worker's decoded args are).
    same = {"tuple": "list"}
    assert [(name, tuple(same.get(k, k) for k in kinds)) for name, kinds in theirs] == ours
