"""The task signals sent where a task runs, with Celery's senders and arguments.

:mod:`celeriac.worker.execute` (and its async twin) call these at the same points of a
run as Celery's tracer (``celery/app/trace.py``): ``task_prerun`` before the body,
``task_success``, ``task_failure`` or ``task_retry`` once the outcome is recorded,
``task_postrun`` last, and ``task_internal_error`` when the worker's own bookkeeping
fails. The callers check ``signal.has_receivers`` first on the per-task path, so a
signal nobody listens to costs a truthiness check and builds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac import _state, signals, states
from celeriac._internal.einfo import ExceptionInfo
from celeriac.worker import task_handlers

if TYPE_CHECKING:
    from celeriac.app.task import Context, Task
    from celeriac.worker.execute import Outcome, TaskRun

__all__ = ["failure", "internal_error", "postrun", "prerun", "retry", "success"]


def prerun(run: TaskRun) -> None:
    """``task_prerun``, with the task current (as it is while its body runs)."""
    request = run.request
    with _state.running_task(run.task, request):
        signals.task_prerun.send(
            sender=run.task,
            task_id=run.task_id,
            task=run.task,
            args=request.args,
            kwargs=request.kwargs,
        )


def postrun(run: TaskRun, outcome: Outcome) -> None:
    """``task_postrun``: ``retval`` is the return value, or the exception it ended with."""
    request = run.request
    retval = outcome.retval if outcome.state == states.SUCCESS else outcome.exception
    with _state.running_task(run.task, request):
        signals.task_postrun.send(
            sender=run.task,
            task_id=run.task_id,
            task=run.task,
            args=request.args,
            kwargs=request.kwargs,
            retval=retval,
            state=outcome.state,
        )


def success(run: TaskRun, retval: Any, runtime: float) -> None:
    """``task_success`` (Celery 5.7 adds the ``runtime`` in seconds)."""
    signals.task_success.send(sender=run.task, result=retval, runtime=runtime)


def failure(
    task: Task[Any, Any],
    request: Context,
    exc: BaseException,
    tb: str | None = None,
    *,
    handler: bool = True,
) -> None:
    """``task_failure``, if anything listens (failures are rare: no guard at the caller).

    The task's own ``on_failure`` comes first, as in Celery (not for a rejection).
    """
    if handler and task._handlers:
        task_handlers.on_failure(task, request, exc, tb)
    if not signals.task_failure.has_receivers:
        return
    with _state.running_task(task, request):
        signals.task_failure.send(
            sender=task,
            task_id=request.id,
            exception=exc,
            args=request.args,
            kwargs=request.kwargs,
            traceback=exc.__traceback__,
            einfo=ExceptionInfo(exc, tb),
        )


def retry(run: TaskRun, reason: BaseException, tb: str) -> None:
    """``task_retry``: ``reason`` is the :class:`~celeriac.exceptions.Retry` raised.

    The task's own ``on_retry`` comes first, as in Celery.
    """
    if run.task._handlers:
        task_handlers.on_retry(run.task, run.request, reason, tb)
    if not signals.task_retry.has_receivers:
        return
    with _state.running_task(run.task, run.request):
        signals.task_retry.send(
            sender=run.task, request=run.request, reason=reason, einfo=ExceptionInfo(reason, tb)
        )


def internal_error(task: Task[Any, Any], request: Context, exc: BaseException) -> None:
    """``task_internal_error``: recording the outcome failed, not the task's body."""
    if not signals.task_internal_error.has_receivers:
        return
    signals.task_internal_error.send(
        sender=task,
        task_id=request.id,
        args=request.args,
        kwargs=request.kwargs,
        request=request,
        exception=exc,
        traceback=exc.__traceback__,
        einfo=ExceptionInfo(exc, internal=True),
    )
