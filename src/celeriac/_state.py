"""The only global state: the current app, the running task, and shared tasks.

Context variables, so threads and asyncio tasks each see their own running task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Context, Task

__all__ = [
    "current_task_and_request",
    "enter_task",
    "get_current_app",
    "leave_task",
    "running_task",
    "set_current_app",
    "shared_task_definitions",
]

_current_app: ContextVar[Celery | None] = ContextVar("celeriac_current_app", default=None)
_default_app: list[Celery] = []
_running: ContextVar[tuple[Task[Any, Any], Context] | None] = ContextVar(
    "celeriac_running_task", default=None
)
#: Functions registering a ``@shared_task`` on an app; every app applies all of them.
_shared_tasks: list[Callable[[Celery], object]] = []


def set_current_app(app: Celery) -> None:
    """Make ``app`` the one ``current_app`` and ``shared_task`` use."""
    _current_app.set(app)
    _default_app[:] = [app]


def get_current_app() -> Celery:
    """The current app; a default one is created on first need."""
    app = _current_app.get() or (_default_app[0] if _default_app else None)
    if app is None:
        from celeriac.app.base import Celery

        app = Celery("default", set_as_current=True)
    return app


@contextmanager
def running_task(task: Task[Any, Any], request: Context) -> Iterator[None]:
    """Mark ``task`` as running with ``request`` for the duration of the block."""
    token = _running.set((task, request))
    try:
        yield
    finally:
        _running.reset(token)


def enter_task(task: Task[Any, Any], request: Context) -> Token[Any]:
    """Mark ``task`` as running with ``request`` until :func:`leave_task` is given the token.

    :func:`running_task` without a context manager, for the worker's per-task path.
    """
    return _running.set((task, request))


def leave_task(token: Token[Any]) -> None:
    """End what :func:`enter_task` began."""
    _running.reset(token)


def current_task_and_request() -> tuple[Task[Any, Any], Context] | None:
    """The task running in this context, with its request, if any."""
    return _running.get()


def shared_task_definitions() -> list[Callable[[Celery], object]]:
    """The registered ``@shared_task`` definitions (applied by each app)."""
    return _shared_tasks
