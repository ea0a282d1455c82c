"""``@shared_task``: a task defined once that every app in the process knows.

Library code that must not import a particular app uses it. The task is registered on
every app (present and future); calling it goes through the current app.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from celeriac import _state
from celeriac.app.task import Task
from celeriac.app.task_decorators import TaskDecorator, adopt_task

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["shared_task"]

P = ParamSpec("P")
R = TypeVar("R")


def _share(fn: Callable[..., Any], options: dict[str, Any]) -> Task[Any, Any]:
    base = options.pop("base", None) or Task
    shared: Task[Any, Any] = base(fn, app=None, **options)

    def define(app: Celery) -> None:
        adopt_task(app, fn, base, {**options, "name": shared.name})

    _state.shared_task_definitions().append(define)
    return shared


@overload
def shared_task(fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
@overload
def shared_task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def shared_task(**options: Any) -> TaskDecorator: ...
def shared_task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Define a task for every app: ``@shared_task`` or ``@shared_task(name=...)``."""
    if fn is not None:
        return _share(fn, options)
    return lambda function: _share(function, options)
