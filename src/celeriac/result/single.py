"""Result handles for one task: :class:`AsyncResult` (sent) and :class:`EagerResult` (local).

They read state through the app's result backend and import no worker, broker or
backend engine code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from celeriac import _state, states
from celeriac._internal.exception_codec import RemoteTraceback

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend
    from celeriac.result.group import GroupResult

__all__ = ["AsyncResult", "EagerResult", "assert_will_not_block"]

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
        from celeriac.result.group import result_from_tuple

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

    async def aget(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        **_: Any,
    ) -> R:
        """Like :meth:`get`, for ``async`` code: the event loop keeps running meanwhile.

        ``await result`` is the same as ``await result.aget()``.
        """
        meta = self._cache or await self.backend.await_for(
            self.id, timeout=timeout, interval=interval
        )
        self._cache = meta
        value: R = self._value_of(meta, propagate)
        return value

    def __await__(self) -> Generator[Any, None, R]:
        return self.aget().__await__()

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

    def revoke(
        self,
        connection: Any = None,
        terminate: bool = False,
        signal: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Revoke the task: workers refuse it (remembered by the broker for three hours).

        With ``terminate`` a running task is stopped; with ``wait`` the workers' replies
        are awaited for ``timeout`` seconds.
        """
        self.app.control.revoke(
            self.id,
            terminate=terminate,
            signal=signal or "SIGTERM",
            reply=wait,
            timeout=timeout or 1.0,
        )

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
