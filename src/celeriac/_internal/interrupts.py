"""Interrupting a running coroutine from outside: time limits and terminate.

The ``asyncio`` pool gives each job a :class:`JobScope` (through :data:`CURRENT_SCOPE`)
and the async trace runs the task's coroutine inside :meth:`JobScope.guard`. The pool
then interrupts the coroutine through the scope, never by cancelling the whole job, so
the bookkeeping around the coroutine (storing the outcome) is never cut short:

- a *soft* interrupt raises the given exception inside the coroutine, at the ``await``
  it is waiting on (so ``except SoftTimeLimitExceeded:`` in the task works);
- a *final* interrupt (hard time limit, terminate) cancels the coroutine and raises the
  given exception from :meth:`JobScope.guard` once it has unwound, whatever it did.

asyncio has no way to raise an arbitrary exception at a task's current ``await``, so
the guard drives the coroutine itself: it forwards every step, and when the pool
cancels the job it throws the pending exception in place of the ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Generator
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["CURRENT_SCOPE", "JobScope"]

T = TypeVar("T")

#: The scope of the job running in this context (set by the pool that runs it).
CURRENT_SCOPE: ContextVar[JobScope | None] = ContextVar("celeriac_job_scope", default=None)


class JobScope:
    """Where one job's coroutine can be interrupted.

    Attributes:
        name: What the job calls itself (the task id), so it can be found to terminate.
    """

    def __init__(self) -> None:
        self.name: str | None = None
        self._task: asyncio.Task[Any] | None = None
        self._pending: BaseException | None = None
        self._final: BaseException | None = None
        self._finished = False

    @property
    def is_running(self) -> bool:
        """Whether a guarded coroutine is running (it can be interrupted)."""
        return self._task is not None and not self._finished

    @property
    def final_error(self) -> BaseException | None:
        """The exception a final interrupt ended the coroutine with, if any."""
        return self._final

    def interrupt(self, exc: BaseException, *, final: bool) -> bool:
        """Raise ``exc`` in the coroutine (soft), or cancel it and then raise ``exc``.

        Returns whether a coroutine was running to interrupt.
        """
        if self._task is None or self._finished:
            return False
        if final:
            self._final = exc
        else:
            self._pending = exc
        self._task.cancel()
        return True

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` so that :meth:`interrupt` can reach it."""
        self._task = asyncio.current_task()
        try:
            return await _Guarded(self, awaitable)
        finally:
            self._finished = True

    def _take_pending(self) -> BaseException | None:
        pending, self._pending = self._pending, None
        if pending is not None or self._final is not None:
            _uncancel(self._task)
        return pending


def _uncancel(task: asyncio.Task[Any] | None) -> None:
    # The cancel request was ours and is answered: keep asyncio.timeout() and
    # TaskGroup inside the task from counting it as their own.
    if sys.version_info >= (3, 11) and task is not None and task.cancelling():
        task.uncancel()


class _Guarded(Awaitable[T]):
    def __init__(self, scope: JobScope, awaitable: Awaitable[T]) -> None:
        self._scope = scope
        self._awaitable = awaitable

    def __await__(self) -> Generator[Any, Any, T]:
        steps = self._awaitable.__await__()
        scope = self._scope
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                yielded = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                break
            except asyncio.CancelledError as exc:
                if scope.final_error is not None:
                    raise scope.final_error from exc
                raise
            value, error = None, None
            try:
                value = yield yielded
            except asyncio.CancelledError as exc:
                pending = scope._take_pending()
                error = pending if pending is not None else exc
            except BaseException as exc:  # forwarded into the coroutine, as await does
                error = exc
        if scope.final_error is not None:  # it returned after all: too late, still ended
            raise scope.final_error
        return result
