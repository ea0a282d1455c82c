"""``@app.task``: making a task of a function, and the types of decorators with options.

A decorator with options returns a function that turns a function into a task. It is a
``Protocol`` with an overloaded ``__call__`` so that an ``async def`` task is typed by
the value its coroutine returns (``Task[P, R]``, as for a plain function returning
``R``): that is what ``.delay(...).get()`` gives back.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from celeriac import _state

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task

__all__ = ["BoundTaskDecorator", "TaskDecorator", "adopt_task", "make_task"]

P = ParamSpec("P")
R = TypeVar("R")


class TaskDecorator(Protocol):
    """``@app.task(name=...)``: keeps the function's parameters."""

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...


class BoundTaskDecorator(Protocol):
    """``@app.task(bind=True)``: the first parameter is the task, so only R is checked."""

    @overload
    def __call__(self, fn: Callable[..., Coroutine[Any, Any, R]], /) -> Task[..., R]: ...
    @overload
    def __call__(self, fn: Callable[..., R], /) -> Task[..., R]: ...


def make_task(app: Celery, fn: Callable[..., Any], options: dict[str, Any]) -> Task[Any, Any]:
    """Register a task of ``fn`` on ``app`` (and, when shared, on every other app)."""
    options = dict(options)
    shared = options.pop("shared", True)
    base = options.pop("base", None) or app.task_cls
    task: Task[Any, Any] = base(fn, app=app, **options)
    app.tasks.register(task)
    if shared:
        # As in Celery, other apps of this process learn the task too (this is how
        # ``python -m proj.celery worker`` finds tasks registered on ``proj.celery``).
        options["name"] = task.name
        _state.shared_task_definitions().append(lambda other: adopt_task(other, fn, base, options))
    return task


def adopt_task(
    app: Celery, fn: Callable[..., Any], base: type[Task[Any, Any]], options: Any
) -> None:
    """Register on ``app`` the task another app (or ``@shared_task``) defined, once."""
    if options["name"] not in app.tasks:
        app.tasks.register(base(fn, app=app, **options))
