"""Result handles: :class:`AsyncResult` for sent tasks, :class:`EagerResult` for local runs.

They read state through the app's result backend and import no worker, broker or
backend engine code.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from celeriac import _state, states
from celeriac._internal.exception_codec import RemoteTraceback

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend

__all__ = [
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "ResultSet",
    "assert_will_not_block",
    "result_from_tuple",
]

R = TypeVar("R")


def assert_will_not_block() -> None:
    """Refuse to wait for a result inside a running task (it can deadlock the pool)."""
    running = _state.current_task_and_request()
    if running is not None and not running[1].called_directly and not running[1].is_eager:
        raise RuntimeError(
            "Never call result.get() within a task! See "
            "https://docs.celeryq.dev/en/latest/userguide/tasks.html"
            "#avoid-launching-synchronous-subtasks"
        )


def _raise_remote(exc: BaseException, traceback: str | None) -> None:
    if traceback:
        raise exc from RemoteTraceback(traceback)
    raise exc


class AsyncResult(Generic[R]):
    """The state and return value of a task that was sent.

    Args:
        id: The task id.
        app: The app whose backend holds the result (the current app when ``None``).
        task_name: The task's name, when known.
    """

    def __init__(self, id: str, *, app: Celery | None = None, task_name: str | None = None) -> None:
        self.id = id
        self.app = app or _state.get_current_app()
        self.task_name = task_name
        self.parent: AsyncResult[Any] | GroupResult | None = None
        self._cache: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id}>"

    def __str__(self) -> str:
        return self.id

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def task_id(self) -> str:
        """Same as :attr:`id`."""
        return self.id

    @property
    def backend(self) -> ResultBackend:
        """The backend results are read from."""
        return self.app.backend

    def as_tuple(self) -> tuple[tuple[str, Any], None]:
        """The ``[[id, parent], None]`` form stored in a parent's ``children``."""
        return (self.id, None), None

    # -- reading --------------------------------------------------------------------

    def _get_meta(self) -> dict[str, Any]:
        if self._cache is not None:
            return self._cache
        meta = self.backend.get_task_meta(self.id)
        if meta.get("status") in states.READY_STATES:
            self._cache = meta
        return meta

    @property
    def state(self) -> str:
        """The task's state: PENDING for an unknown id."""
        return str(self._get_meta()["status"])

    status = state

    @property
    def result(self) -> Any:
        """The return value, or the exception for a failed task."""
        return self._get_meta().get("result")

    info = result

    @property
    def traceback(self) -> str | None:
        """The remote traceback text of a failed task."""
        value = self._get_meta().get("traceback")
        return str(value) if value else None

    @property
    def date_done(self) -> dt.datetime | None:
        """When the task reached a ready state."""
        value = self._get_meta().get("date_done")
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        return value if isinstance(value, dt.datetime) else None

    @property
    def children(self) -> list[AsyncResult[Any] | GroupResult]:
        """Results of the tasks (and groups) this task sent."""
        value = self._get_meta().get("children")
        return [result_from_tuple(child, self.app) for child in value or ()]

    def _extended(self, key: str) -> Any:
        return self._get_meta().get(key)

    @property
    def name(self) -> str | None:
        """Task name (needs ``result_extended``)."""
        value = self._extended("name")
        return str(value) if value is not None else self.task_name

    @property
    def args(self) -> Any:
        """Positional arguments (needs ``result_extended``)."""
        return self._extended("args")

    @property
    def kwargs(self) -> Any:
        """Keyword arguments (needs ``result_extended``)."""
        return self._extended("kwargs")

    @property
    def worker(self) -> Any:
        """Node that ran the task (needs ``result_extended``)."""
        return self._extended("worker")

    @property
    def retries(self) -> Any:
        """Number of retries (needs ``result_extended``)."""
        return self._extended("retries")

    @property
    def queue(self) -> Any:
        """Queue the task came from (needs ``result_extended``)."""
        return self._extended("queue")

    def ready(self) -> bool:
        """Whether the task finished (SUCCESS, FAILURE or REVOKED)."""
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        """Whether the task succeeded."""
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        """Whether the task failed."""
        return self.state == states.FAILURE

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        no_ack: bool = True,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> R:
        """Wait for the task and return its value.

        Args:
            timeout: Seconds to wait at most (forever when ``None``).
            propagate: Re-raise the task's exception (else return it).
            interval: Seconds between reads, for backends that cannot notify.
            no_ack: Accepted for compatibility.
            follow_parents: Re-raise a failed parent's exception first (chains).
            disable_sync_subtasks: Refuse to wait inside a running task.

        Raises:
            TimeoutError: the task was not ready within ``timeout``.
            ImproperlyConfigured: no result backend is configured.
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        if follow_parents and propagate and self.parent is not None:
            self.parent._raise_if_failed()
        meta = self._cache or self.backend.wait_for(self.id, timeout=timeout, interval=interval)
        self._cache = meta
        value: R = self._value_of(meta, propagate)
        return value

    wait = get

    def _value_of(self, meta: dict[str, Any], propagate: bool) -> Any:
        result = meta.get("result")
        failed = meta.get("status") in states.PROPAGATE_STATES
        if failed and propagate and isinstance(result, BaseException):
            _raise_remote(result, meta.get("traceback"))
        return result

    def _raise_if_failed(self) -> None:
        if self.parent is not None:
            self.parent._raise_if_failed()
        meta = self.backend.get_task_meta(self.id)
        if meta.get("status") in states.PROPAGATE_STATES:
            self._value_of(meta, propagate=True)

    def forget(self) -> None:
        """Delete the stored result."""
        self._cache = None
        self.backend.forget(self.id)


class EagerResult(AsyncResult[R]):
    """The outcome of a task that ran in this process (``apply``, eager mode)."""

    def __init__(
        self,
        id: str,
        ret_value: Any,
        state: str,
        traceback: str | None = None,
        *,
        app: Celery | None = None,
        task_name: str | None = None,
    ) -> None:
        super().__init__(id, app=app, task_name=task_name)
        self._cache = {
            "status": state,
            "result": ret_value,
            "traceback": traceback,
            "children": [],
            "date_done": dt.datetime.now(dt.timezone.utc).isoformat(),
            "task_id": id,
        }

    def _get_meta(self) -> dict[str, Any]:
        assert self._cache is not None
        return self._cache

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        no_ack: bool = True,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> R:
        """The value (or the exception, raised when ``propagate``)."""
        value: R = self._value_of(self._get_meta(), propagate)
        return value

    def forget(self) -> None:
        """Nothing is stored for an eager result."""


class ResultSet:
    """Several results read together; ``get``/``join`` return values in order.

    Args:
        results: The results, in the order their values are wanted.
        app: The app whose backend holds them.
    """

    def __init__(self, results: list[AsyncResult[Any]], *, app: Celery | None = None) -> None:
        self.results = list(results)
        self.app = app or (self.results[0].app if self.results else _state.get_current_app())

    def __iter__(self) -> Any:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> AsyncResult[Any]:
        return self.results[index]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: [{', '.join(r.id for r in self.results)}]>"

    def ready(self) -> bool:
        """Whether every result is ready."""
        return all(result.ready() for result in self.results)

    def successful(self) -> bool:
        """Whether every task succeeded."""
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        """Whether any task failed."""
        return any(result.failed() for result in self.results)

    def waiting(self) -> bool:
        """Whether any task is not ready yet."""
        return not self.ready()

    def completed_count(self) -> int:
        """How many tasks succeeded."""
        return sum(1 for result in self.results if result.successful())

    def _raise_if_failed(self) -> None:
        for result in self.results:
            result._raise_if_failed()

    def forget(self) -> None:
        """Delete every stored result."""
        for result in self.results:
            result.forget()

    def join(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[Any]:
        """Wait for every result; return the values in order.

        Raises:
            TimeoutError: ``timeout`` seconds passed before all were ready.
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(
                result.get(
                    timeout=remaining,
                    propagate=propagate,
                    interval=interval,
                    disable_sync_subtasks=False,
                )
            )
        return values

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[Any]:
        """Same as :meth:`join`."""
        return self.join(timeout, propagate, interval, disable_sync_subtasks)

    join_native = join


class GroupResult(ResultSet):
    """The results of a group, under the group's id.

    Args:
        id: The group id.
        results: Member results, in group order.
        parent: The result this group's tasks were chained after, if any.
        app: The app whose backend holds them.
    """

    def __init__(
        self,
        id: str,
        results: list[AsyncResult[Any]],
        *,
        parent: AsyncResult[Any] | None = None,
        app: Celery | None = None,
    ) -> None:
        super().__init__(results, app=app)
        self.id = id
        self.parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResult):
            return other.id == self.id and other.results == self.results
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def children(self) -> list[AsyncResult[Any]]:
        """The member results."""
        return self.results

    def as_tuple(self) -> tuple[tuple[str, Any], list[Any]]:
        """The ``[[id, parent], [children]]`` form stored in a parent's ``children``."""
        return (self.id, None), [result.as_tuple() for result in self.results]

    def save(self, backend: ResultBackend | None = None) -> None:
        """Store the group so :meth:`restore` can find it by id."""
        (backend or self.app.backend).save_group(self.id, [r.id for r in self.results])

    def delete(self, backend: ResultBackend | None = None) -> None:
        """Remove the saved group."""
        (backend or self.app.backend).delete_group(self.id)

    @classmethod
    def restore(
        cls, id: str, backend: ResultBackend | None = None, app: Celery | None = None
    ) -> GroupResult | None:
        """The saved group ``id``, or ``None`` if it was never saved."""
        app = app or _state.get_current_app()
        ids = (backend or app.backend).restore_group(id)
        if ids is None:
            return None
        return cls(id, [app.AsyncResult(task_id) for task_id in ids], app=app)


def result_from_tuple(value: Any, app: Celery | None = None) -> AsyncResult[Any] | GroupResult:
    """A result from its stored tuple form: ``[[id, parent], None]`` or a group's."""
    head, nodes = value
    task_id, parent = head if isinstance(head, list | tuple) else (head, None)
    parent_result = result_from_tuple(parent, app) if parent else None
    if nodes is not None:
        members = [result_from_tuple(child, app) for child in nodes]
        return GroupResult(task_id, members, parent=parent_result, app=app)  # type: ignore[arg-type]
    result: AsyncResult[Any] = AsyncResult(task_id, app=app)
    result.parent = parent_result
    return result
