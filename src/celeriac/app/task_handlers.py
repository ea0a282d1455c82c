"""The task handler methods Celery's ``Task`` has, that a custom base class overrides.

A class-based task or a ``@app.task(base=MyTask)`` base defines any of these; the worker
(and ``Task.apply``) calls them where Celery's tracer does: :meth:`before_start` before
the body, :meth:`on_success`, :meth:`on_failure` or :meth:`on_retry` once the outcome is
stored, :meth:`after_return` last. Which of them a class overrides is found once, when
the task is made (:func:`overridden_handlers`), so a task that overrides none costs the
worker nothing per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac._internal.einfo import ExceptionInfo

__all__ = ["HANDLER_NAMES", "TaskHandlers", "overridden_handlers"]

#: The handler methods the worker calls, by name.
HANDLER_NAMES = ("before_start", "on_success", "on_failure", "on_retry", "after_return")


class TaskHandlers:
    """The handler methods of :class:`~celeriac.app.task.Task`; each does nothing here."""

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Called before the body runs (an exception raised here fails the task)."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        """Called after the task succeeded and its result was stored."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: ExceptionInfo
    ) -> None:
        """Called after the task failed and the FAILURE state was stored."""

    def on_retry(
        self, exc: BaseException | None, task_id: str, args: Any, kwargs: Any, einfo: ExceptionInfo
    ) -> None:
        """Called when the task is retried; ``exc`` is the ``exc`` given to ``retry()``."""

    def after_return(
        self,
        status: str,
        retval: Any,
        task_id: str,
        args: Any,
        kwargs: Any,
        einfo: ExceptionInfo | None,
    ) -> None:
        """Called last, after a SUCCESS or FAILURE (``retval`` is then the exception)."""


def overridden_handlers(cls: type) -> frozenset[str]:
    """The names in :data:`HANDLER_NAMES` that ``cls`` defines differently from the base."""
    return frozenset(
        name
        for name in HANDLER_NAMES
        if getattr(cls, name, None) is not getattr(TaskHandlers, name)
    )
