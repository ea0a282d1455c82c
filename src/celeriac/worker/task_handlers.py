"""Calling a task's own handler methods at the points of a run where Celery calls them.

:mod:`celeriac.worker.execute` (and its async twin) call these only for a task whose
class overrides a handler (``task._handlers``, found once when the task is made), in
Celery's order (``celery/app/trace.py``): ``before_start`` before the body (inside the
body's ``try``: raising there fails the task); ``on_retry``, ``on_failure`` and
``on_success`` once the state is stored and before the matching signal; ``after_return``
after a SUCCESS or FAILURE, before ``task_postrun``. An exception raised by any of the
last four is logged and the run goes on: a handler never loses the task's outcome.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac._internal.einfo import ExceptionInfo

if TYPE_CHECKING:
    from celeriac.app.task import Context, Task
    from celeriac.worker.execute import Outcome

__all__ = ["after_return", "before_start", "on_failure", "on_retry", "on_success"]

logger = logging.getLogger(__name__)


def before_start(task: Task[Any, Any], request: Context) -> None:
    """``before_start(task_id, args, kwargs)``; what it raises fails the run."""
    if "before_start" in task._handlers:
        task.before_start(request.id or "", request.args, request.kwargs)


def on_success(task: Task[Any, Any], request: Context, retval: Any) -> None:
    """``on_success(retval, task_id, args, kwargs)``."""
    if "on_success" in task._handlers:
        _call(task, request, "on_success", retval, request.id, request.args, request.kwargs)


def on_failure(task: Task[Any, Any], request: Context, exc: BaseException, tb: str | None) -> None:
    """``on_failure(exc, task_id, args, kwargs, einfo)``."""
    if "on_failure" in task._handlers:
        einfo = ExceptionInfo(exc, tb)
        _call(task, request, "on_failure", exc, request.id, request.args, request.kwargs, einfo)


def on_retry(task: Task[Any, Any], request: Context, reason: BaseException, tb: str) -> None:
    """``on_retry(exc, task_id, args, kwargs, einfo)``: ``exc`` is the retry's cause.

    As in Celery, ``exc`` is the ``exc`` given to ``retry()`` (``None`` when none was)
    and ``einfo`` describes the :class:`~celeriac.exceptions.Retry` itself.
    """
    if "on_retry" in task._handlers:
        exc = getattr(reason, "exc", None)
        einfo = ExceptionInfo(reason, tb)
        _call(task, request, "on_retry", exc, request.id, request.args, request.kwargs, einfo)


def after_return(task: Task[Any, Any], request: Context, outcome: Outcome) -> None:
    """``after_return(status, retval, task_id, args, kwargs, einfo)``, after SUCCESS or FAILURE.

    ``retval`` is the return value, or the exception the task failed with; ``einfo`` is
    ``None``, as Celery passes it.
    """
    if "after_return" not in task._handlers:
        return
    if outcome.state == states.SUCCESS:
        retval = outcome.retval
    elif outcome.state == states.FAILURE:
        retval = outcome.exception
    else:  # RETRY, IGNORED, REJECTED: Celery skips after_return for these
        return
    args = (outcome.state, retval, request.id, request.args, request.kwargs, None)
    _call(task, request, "after_return", *args)


def _call(task: Task[Any, Any], request: Context, name: str, *args: Any) -> None:
    try:
        getattr(task, name)(*args)
    except Exception:
        logger.exception("Task %s[%s]: its %s handler raised", task.name, request.id, name)
