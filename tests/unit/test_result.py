"""celeriac.result: AsyncResult reading a real (in-memory) result backend."""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import AsyncResult, Celery, EagerResult, Task, states
from celeriac._internal.exception_codec import RemoteTraceback
from celeriac.app.task import Context
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import ImproperlyConfigured, TimeoutError
from celeriac.worker.execute import trace

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/proj/tasks.py", line 12, in charge\n'
    "    raise PaymentError('card declined')\n"
    "tests.unit.test_result.PaymentError: card declined\n"
)


class PaymentError(Exception):
    pass


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"test-result-{uuid.uuid4()}"
    app = Celery("proj", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    app.close()
    MemoryBroker.reset(name)


def new_id() -> str:
    return str(uuid.uuid4())


# -- states ---------------------------------------------------------------------------------


def test_unknown_id_is_pending(app: Celery) -> None:
    result = app.AsyncResult(new_id())
    assert result.state == states.PENDING
    assert result.status == states.PENDING
    assert result.result is None
    assert result.traceback is None
    assert result.date_done is None
    assert result.children == []
    assert not result.ready()
    assert not result.successful()
    assert not result.failed()


def test_success(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_done(task_id, {"total": 4})
    result = app.AsyncResult(task_id)
    assert result.state == states.SUCCESS
    assert result.get() == {"total": 4}
    assert result.result == result.info == {"total": 4}
    assert result.ready()
    assert result.successful()
    assert not result.failed()


def test_failure_reraises_the_same_class_with_the_remote_traceback(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_failure(task_id, PaymentError("card declined"), TRACEBACK)
    result = app.AsyncResult(task_id)
    with pytest.raises(PaymentError, match="card declined") as info:
        result.get()
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert cause.tb == TRACEBACK
    assert result.traceback == TRACEBACK
    assert result.failed()
    assert result.ready()
    assert not result.successful()


def test_failure_of_a_builtin_exception(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_failure(task_id, KeyError("nope"), TRACEBACK)
    with pytest.raises(KeyError):
        app.AsyncResult(task_id).get()


def test_failure_without_propagate_returns_the_instance(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_failure(task_id, PaymentError("card declined"), TRACEBACK)
    value = app.AsyncResult(task_id).get(propagate=False)
    assert type(value) is PaymentError
    assert value.args == ("card declined",)
    assert isinstance(app.AsyncResult(task_id).result, PaymentError)


def test_revoked_propagates(app: Celery) -> None:
    from celeriac.exceptions import TaskRevokedError

    task_id = new_id()
    app.backend.mark_as_revoked(task_id, "expired")
    result = app.AsyncResult(task_id)
    assert result.state == states.REVOKED
    assert result.ready()
    with pytest.raises(TaskRevokedError, match="expired"):
        result.get()


def test_retry_state_is_not_ready(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_retry(task_id, ConnectionError("down"), TRACEBACK)
    result = app.AsyncResult(task_id)
    assert result.state == states.RETRY
    assert not result.ready()
    assert isinstance(result.result, ConnectionError)


def test_started_meta(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_started(task_id, pid=123, hostname="celery@box")
    result = app.AsyncResult(task_id)
    assert result.state == states.STARTED
    assert result.info == {"pid": 123, "hostname": "celery@box"}


def test_date_done_is_parsed(app: Celery) -> None:
    task_id = new_id()
    before = dt.datetime.now(dt.timezone.utc)
    app.backend.mark_as_done(task_id, 1)
    date_done = app.AsyncResult(task_id).date_done
    assert isinstance(date_done, dt.datetime)
    assert date_done.tzinfo is not None
    assert before <= date_done <= dt.datetime.now(dt.timezone.utc)


def test_forget(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_done(task_id, 1)
    result = app.AsyncResult(task_id)
    assert result.get() == 1
    result.forget()
    assert result.state == states.PENDING
    assert app.AsyncResult(task_id).state == states.PENDING


# -- waiting --------------------------------------------------------------------------------


def test_get_with_timeout_on_pending_raises_timeout_error(app: Celery) -> None:
    result = app.AsyncResult(new_id())
    with pytest.raises(TimeoutError):
        result.get(timeout=0.1)
    with pytest.raises(builtins.TimeoutError):
        result.get(timeout=0.01)


def test_get_inside_a_running_task_raises_runtime_error(app: Celery) -> None:
    other = new_id()
    app.backend.mark_as_done(other, 42)

    @app.task(shared=False)
    def waits(disable_sync_subtasks: bool) -> Any:
        return app.AsyncResult(other).get(timeout=1, disable_sync_subtasks=disable_sync_subtasks)

    request = Context(id=new_id(), task=waits.name, args=[True], called_directly=False)
    outcome = trace(app, waits, request)
    assert outcome.state == states.FAILURE
    assert isinstance(outcome.exception, RuntimeError)
    assert "Never call result.get() within a task" in str(outcome.exception)

    request = Context(id=new_id(), task=waits.name, args=[False], called_directly=False)
    outcome = trace(app, waits, request)
    assert (outcome.state, outcome.retval) == (states.SUCCESS, 42)


def test_get_inside_an_eager_task_is_allowed(app: Celery) -> None:
    other = new_id()
    app.backend.mark_as_done(other, 42)

    @app.task(shared=False)
    def waits() -> Any:
        return app.AsyncResult(other).get(timeout=1)

    assert waits.apply().get() == 42
    assert waits() == 42


# -- configuration --------------------------------------------------------------------------


def test_no_backend_configured_explains_how_to_fix_it() -> None:
    app = Celery("nobackend", broker="memory://", set_as_current=False)
    result = app.AsyncResult(new_id())
    with pytest.raises(ImproperlyConfigured, match="result_backend") as info:
        result.get(timeout=1)
    assert "backend=" in str(info.value)
    with pytest.raises(ImproperlyConfigured):
        _ = result.state


def test_result_extended_fields(app: Celery) -> None:
    app.conf.result_extended = True
    app.close()  # the backend is rebuilt with the new setting
    task_id = new_id()
    request = Context(
        id=task_id,
        task="proj.add",
        args=[2, 2],
        kwargs={"z": 1},
        hostname="celery@box",
        retries=1,
        delivery_info={"routing_key": "hipri"},
    )
    app.backend.mark_as_done(task_id, 4, request=request)
    result = app.AsyncResult(task_id)
    assert result.name == "proj.add"
    assert result.args == [2, 2]
    assert result.kwargs == {"z": 1}
    assert result.worker == "celery@box"
    assert result.retries == 1
    assert result.queue == "hipri"


def test_extended_fields_are_none_without_result_extended(app: Celery) -> None:
    task_id = new_id()
    app.backend.mark_as_done(task_id, 4, request=Context(id=task_id, task="proj.add"))
    result = app.AsyncResult(task_id)
    assert (result.args, result.kwargs, result.worker, result.queue) == (None,) * 4
    assert result.name is None
    assert app.AsyncResult(task_id, task_name="proj.add").name == "proj.add"


def test_result_of_a_sent_task(app: Celery) -> None:
    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    result = add.delay(2, 2)
    assert isinstance(result, AsyncResult)
    assert result.state == states.PENDING
    app.backend.mark_as_done(result.id, 4)
    assert result.get(timeout=1) == 4


# -- the handle itself ----------------------------------------------------------------------


def test_identity(app: Celery) -> None:
    task_id = new_id()
    result = app.AsyncResult(task_id)
    assert result.id == result.task_id == str(result) == task_id
    assert result == task_id
    assert result == app.AsyncResult(task_id)
    assert hash(result) == hash(task_id)
    assert repr(result) == f"<AsyncResult: {task_id}>"
    assert result.as_tuple() == ((task_id, None), None)


def test_task_async_result(app: Celery) -> None:
    @app.task(name="proj.named", shared=False)
    def named() -> None:
        return None

    assert named.AsyncResult("x").name == "proj.named"


def test_eager_result(app: Celery) -> None:
    result: EagerResult[int] = EagerResult("id-1", 5, states.SUCCESS, app=app)
    assert (result.id, result.get(), result.state, result.traceback) == ("id-1", 5, "SUCCESS", None)
    result.forget()
    assert result.get() == 5


def test_bound_task_sees_its_request_in_trace(app: Celery) -> None:
    @app.task(bind=True, shared=False)
    def me(self: Task[Any, Any]) -> Any:
        return [self.request.id, self.request.called_directly, self.request.hostname]

    request = Context(id="tid", task=me.name, called_directly=False, hostname="celery@h")
    outcome = trace(app, me, request)
    assert outcome.retval == ["tid", False, "celery@h"]
    assert app.AsyncResult("tid").get() == ["tid", False, "celery@h"]


def test_children_are_result_objects(app: Celery) -> None:
    parent, child = new_id(), new_id()
    app.backend.mark_as_done(
        parent, 1, request=Context(id=parent, children=[[[child, None], None]])
    )
    children = app.AsyncResult(parent).children
    assert len(children) == 1
    assert isinstance(children[0], AsyncResult)
    assert children[0].id == child
