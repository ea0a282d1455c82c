"""The types of ``@app.task(...)`` and ``@shared_task(...)`` with options.

A decorator with options returns a function that turns a function into a task. It is a
``Protocol`` with an overloaded ``__call__`` so that an ``async def`` task is typed by
the value its coroutine returns (``Task[P, R]``, as for a plain function returning
``R``): that is what ``.delay(...).get()`` gives back.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from celeriac.app.task import Task

__all__ = ["BoundTaskDecorator", "TaskDecorator"]

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
