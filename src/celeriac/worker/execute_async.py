"""Running one task on the worker's event loop: the ``asyncio`` pool's target.

An ``async def`` task is awaited right on the loop, so a thousand of them waiting on
I/O cost a thousand coroutines, not a thousand threads. Everything else about the run
(decoding, the request, states, result storage, callbacks, retries) is what
:mod:`celeriac.worker.execute` does, through the same :class:`TaskRun`; only the
bookkeeping that talks to the result backend or the broker, which blocks, is moved to a
thread so the loop stays responsive. A sync task runs whole in a thread, exactly as the
``threads`` pool runs it.

When the pool that runs this gave the job a :class:`~celeriac._internal.interrupts.
JobScope`, the task's coroutine runs inside it, so time limits and terminate reach it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from celeriac import _state, signals, states
from celeriac._internal.interrupts import CURRENT_SCOPE
from celeriac.exceptions import TaskRevokedError
from celeriac.protocol import TaskMessage
from celeriac.worker import task_handlers, task_signals
from celeriac.worker.execute import Outcome, TaskRun, decode_request, run_task

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Context, Task

__all__ = ["is_async_task", "run_task_async", "trace_async"]


def is_async_task(task: Task[Any, Any]) -> bool:
    """Whether the task's body is a coroutine function (``async def``)."""
    body = getattr(task, "_fn", None) or task.run
    return inspect.iscoroutinefunction(body)


async def run_task_async(
    app: Celery,
    hostname: str,
    accept: frozenset[str],
    job: tuple[TaskMessage, dict[str, Any]],
) -> Outcome:
    """Decode one task message and run it on this loop (async) or in a thread (sync)."""
    message, delivery_info = job
    task = app.tasks.get(message.name)
    if task is None or not is_async_task(task):
        return await asyncio.to_thread(run_task, app, hostname, accept, job)
    request = decode_request(message, delivery_info, accept=accept, hostname=hostname)
    if isinstance(request, Outcome):
        return request
    try:
        return await trace_async(app, task, request)
    except Exception as exc:  # recording the outcome failed: the pool reports it
        task_signals.internal_error(task, request, exc)
        raise


async def trace_async(
    app: Celery, task: Task[Any, Any], request: Context, *, store: bool = True
) -> Outcome:
    """:func:`~celeriac.worker.execute.trace` for an ``async def`` task, on this loop."""
    run = TaskRun(app, task, request, store=store)
    if signals.task_prerun.has_receivers:
        task_signals.prerun(run)
    outcome = await _run(run)
    if task._handlers:
        await asyncio.to_thread(task_handlers.after_return, task, request, outcome)
    if signals.task_postrun.has_receivers:
        task_signals.postrun(run, outcome)
    return outcome


async def _run(run: TaskRun) -> Outcome:
    """The body on this loop, and the bookkeeping around it in a thread."""
    task, request = run.task, run.request
    scope = CURRENT_SCOPE.get()
    if scope is not None:
        scope.name = request.id
    try:
        if run.marks_started:
            await asyncio.to_thread(run.mark_started)
        with _state.running_task(task, request):
            if task._handlers:
                task_handlers.before_start(task, request)
            retval = task.run(*request.args, **request.kwargs)
            if inspect.isawaitable(retval):
                retval = await (retval if scope is None else scope.guard(retval))
    except TaskRevokedError as exc:
        if scope is None or scope.final_error is not exc:
            return await asyncio.to_thread(run.failed, exc)
        return await asyncio.to_thread(_terminated, run, exc)
    except Exception as exc:
        return await asyncio.to_thread(run.failed, exc)
    return await asyncio.to_thread(run.succeeded, retval)


def _terminated(run: TaskRun, exc: TaskRevokedError) -> Outcome:
    """Record a run ended by ``revoke(terminate=True)`` as REVOKED, as Celery does."""
    if run.store:
        run.app.backend.mark_as_revoked(run.task_id, "terminated")
    return Outcome(states.REVOKED, exception=exc)
