"""Running one task: states, result storage, retries, callbacks, errbacks, handlers.

:func:`run_task` is what a pool runs for each message, :func:`apply_eagerly` what
``Task.apply`` runs here; both go through :func:`trace`, so they behave the same.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
import traceback as traceback_module
import uuid
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

from celeriac import _state, signals, states
from celeriac._internal.loops import run_coroutine
from celeriac.app.task import Context, Task
from celeriac.exceptions import (
    BackendError,
    BackendStoreError,
    DecodeError,
    Ignore,
    NotRegistered,
    Reject,
    Retry,
)
from celeriac.protocol import TaskMessage, safe_repr
from celeriac.result import EagerResult
from celeriac.utils.log import LogSite
from celeriac.worker import task_handlers, task_signals
from celeriac.worker.outcome import INVALID, Outcome
from celeriac.worker.workflow import (
    record_failure,
    report_chord_part,
    send_callbacks,
    send_errbacks,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "INVALID",
    "Outcome",
    "TaskOptions",
    "TaskRun",
    "apply_eagerly",
    "build_request",
    "decode_request",
    "run_task",
    "trace",
]

logger = logging.getLogger(__name__)
#: Logged for every task: its caller is looked up once.
log_succeeded = LogSite(logger, logging.INFO, "Task %s[%s] succeeded in %.6fs: %s")


class TaskOptions(NamedTuple):
    """A task's options for running it, its own or the app's (``task_<option>``)."""

    ignore_result: bool
    track_started: bool

    @classmethod
    def of(cls, app: Celery, task: Task[Any, Any]) -> TaskOptions:
        """The options of ``task`` as they are now."""
        conf = app.conf
        ignore_result, track_started = task.ignore_result, task.track_started
        return cls(
            conf.task_ignore_result if ignore_result is None else ignore_result,
            conf.task_track_started if track_started is None else track_started,
        )


#: The options of each task type a worker process has run (run_task reads them once).
_worker_options: weakref.WeakKeyDictionary[Task[Any, Any], TaskOptions] = (
    weakref.WeakKeyDictionary()
)


def build_request(
    message: TaskMessage,
    args: list[Any],
    kwargs: dict[str, Any],
    embed: dict[str, Any],
    *,
    hostname: str | None,
    delivery_info: dict[str, Any],
) -> Context:
    """The ``self.request`` a task sees for this message."""
    get = embed.get
    # Positional, in Context's field order (tests check each field by name): thirty
    # keywords cost more than the rest of building the request.
    return Context(
        message.id,  # id
        message.name,  # task
        args,
        kwargs,
        message.retries,
        message.eta.isoformat() if message.eta else None,  # eta
        message.expires.isoformat() if message.expires else None,  # expires
        False,  # is_eager
        False,  # called_directly
        hostname,
        delivery_info,
        message.headers,  # headers
        message.message.properties,  # properties
        message.root_id,
        message.parent_id,
        message.group,
        message.group_index,
        get("chord"),
        get("chain"),
        get("callbacks"),
        get("errbacks"),
        message.correlation_id,
        message.reply_to,
        (message.time_limit, message.soft_time_limit),  # timelimit
        message.origin,
        message.shadow,
        message.ignore_result,
        message.argsrepr,
        message.kwargsrepr,
        _stamps(message.headers.get("stamps")),  # stamps
    )


def trace(
    app: Celery,
    task: Task[Any, Any],
    request: Context,
    *,
    store: bool = True,
    options: TaskOptions | None = None,
) -> Outcome:
    """Run ``task`` for ``request``: record states, send callbacks, return the outcome.

    An ``async def`` task runs to completion on this thread's event loop. ``options``
    are the task's resolved options (read now when not given).
    """
    run = TaskRun(app, task, request, store=store, options=options)
    if signals.task_prerun.has_receivers:
        task_signals.prerun(run)
    try:
        if run.marks_started:
            run.mark_started()
        running = _state.enter_task(task, request)
        try:
            if task._handlers:
                task_handlers.before_start(task, request)
            retval = task.run(*request.args, **request.kwargs)
            if retval is not None and inspect.isawaitable(retval):
                retval = run_coroutine(retval)
        finally:
            _state.leave_task(running)
    except Exception as exc:
        outcome = run.failed(exc)
    else:
        outcome = run.succeeded(retval)
    if task._handlers:
        task_handlers.after_return(task, request, outcome)
    if signals.task_postrun.has_receivers:
        task_signals.postrun(run, outcome)
    return outcome


class TaskRun:
    """The bookkeeping around one run of a task body: before it, and after its outcome.

    Shared by :func:`trace` and the async trace, which differ in how they call the body.
    """

    def __init__(
        self,
        app: Celery,
        task: Task[Any, Any],
        request: Context,
        *,
        store: bool,
        options: TaskOptions | None = None,
    ) -> None:
        self.app = app
        self.task = task
        self.request = request
        self.store = store
        self.task_id = request.id or ""
        if options is None:
            options = TaskOptions.of(app, task)
        self.ignore = request.ignore_result or options.ignore_result
        self.marks_started = bool(store and options.track_started and not self.ignore)
        self.started = time.perf_counter()

    def mark_started(self) -> None:
        """Store STARTED (with this process id and the worker's name)."""
        self.app.backend.mark_as_started(
            self.task_id, self.request, pid=os.getpid(), hostname=self.request.hostname
        )

    def failed(self, exc: Exception) -> Outcome:
        """Record that the body raised ``exc`` (a retry, ignore, reject or failure)."""
        app, task, request, task_id, store = (
            self.app,
            self.task,
            self.request,
            self.task_id,
            self.store,
        )
        exc = task.autoretry(exc, request)  # autoretry_for: a Retry, or still exc
        tb = "".join(traceback_module.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, Retry):
            if store:
                reason = exc.exc if isinstance(exc.exc, BaseException) else exc
                app.backend.mark_as_retry(task_id, reason, tb, request)
            logger.info("Task %s[%s] retry: %s", task.name, task_id, exc)
            task_signals.retry(self, exc, tb)
            return Outcome(states.RETRY, exception=exc, traceback=tb, runtime=_since(self.started))
        if isinstance(exc, Ignore):
            return Outcome(states.IGNORED, exception=exc, runtime=_since(self.started))
        if isinstance(exc, Reject):
            if store and not exc.requeue and (not self.ignore or task.store_errors_even_if_ignored):
                # Never to run again: a result, not PENDING forever (as Celery 5.7 does).
                app.backend.mark_as_failure(task_id, exc, tb, request)
            if not exc.requeue:
                task_signals.failure(task, request, exc, tb, handler=False)
            return Outcome(
                states.REJECTED, exception=exc, runtime=_since(self.started), requeue=exc.requeue
            )
        logger.error(
            "Task %s[%s] raised unexpected: %r",
            task.name,
            task_id,
            exc,
            exc_info=exc,
            extra={"task_id": task_id},
        )
        if store:
            store_own = not self.ignore or task.store_errors_even_if_ignored
            record_failure(app, request, exc, tb, store_own=store_own)
        send_errbacks(app, request, exc, tb)
        task_signals.failure(task, request, exc, tb)
        return Outcome(states.FAILURE, exception=exc, traceback=tb, runtime=_since(self.started))

    def _unstorable(self, exc: BackendError, runtime: float) -> Outcome:
        """The task succeeded but its result cannot be stored: record FAILURE saying so."""
        app, task, task_id = self.app, self.task, self.task_id
        error = BackendStoreError(f"the task's result could not be stored: {exc}")
        logger.error(
            "Task %s[%s] succeeded, but %s", task.name, task_id, error, extra={"task_id": task_id}
        )
        try:
            app.backend.mark_as_failure(task_id, error, None, self.request)
        except BackendError as again:
            logger.error(
                "Task %s[%s]: could not record the failure either: %s", task.name, task_id, again
            )
        report_chord_part(app, self.request, states.FAILURE)
        task_signals.failure(task, self.request, error)
        return Outcome(states.FAILURE, exception=error, runtime=runtime)

    def succeeded(self, retval: Any) -> Outcome:
        """Send callbacks, store SUCCESS and report ``retval``."""
        app, task, request, task_id = self.app, self.task, self.request, self.task_id
        runtime = _since(self.started)
        send_callbacks(app, request, retval)
        if self.store and not self.ignore:
            try:
                app.backend.mark_as_done(task_id, retval, request)
            except BackendError as exc:
                return self._unstorable(exc, runtime)
        if self.store:
            report_chord_part(app, request, states.SUCCESS)
        if task._handlers:
            task_handlers.on_success(task, request, retval)
        if signals.task_success.has_receivers:
            task_signals.success(self, retval, runtime)
        if log_succeeded.enabled():
            extra = {"task_id": task_id}
            log_succeeded(task.name, task_id, runtime, safe_repr(retval), extra=extra)
        return Outcome(states.SUCCESS, retval=retval, runtime=runtime)


def _stamps(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _since(started: float) -> float:
    return time.perf_counter() - started


def describe_job(job: tuple[TaskMessage, dict[str, Any]]) -> str:
    """``proj.add[<id>]`` for a pool payload (the pool's log lines use it)."""
    return f"{job[0].name}[{job[0].id}]"


def run_task(
    app: Celery,
    hostname: str,
    accept: frozenset[str],
    job: tuple[TaskMessage, dict[str, Any]],
) -> Outcome:
    """Decode one task message and run it: the pool's target, bound to app and node.

    ``job`` is the payload the consumer submits: the message and its delivery info.
    """
    message, delivery_info = job
    try:
        task = app.tasks[message.name]
    except NotRegistered as exc:
        app.backend.mark_as_failure(message.id, exc, None)
        return Outcome(states.FAILURE, exception=exc)
    request = decode_request(message, delivery_info, accept=accept, hostname=hostname)
    if isinstance(request, Outcome):
        return request
    options = _worker_options.get(task)
    if options is None:  # read once per task type in a worker process, as Celery does
        options = _worker_options[task] = TaskOptions.of(app, task)
    try:
        return trace(app, task, request, options=options)
    except Exception as exc:  # recording the outcome failed: the pool reports it
        task_signals.internal_error(task, request, exc)
        raise


def decode_request(
    message: TaskMessage,
    delivery_info: dict[str, Any],
    *,
    accept: frozenset[str],
    hostname: str | None,
) -> Context | Outcome:
    """The request for ``message``, or an INVALID outcome when its body cannot be read."""
    try:
        args, kwargs, embed = message.decode_body(accept)
    except DecodeError as exc:
        return Outcome(INVALID, exception=exc)
    return build_request(
        message, args, kwargs, embed, hostname=hostname, delivery_info=delivery_info
    )


def apply_eagerly(
    task: Task[Any, Any],
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    task_id: str | None = None,
    link: Any = None,
    link_error: Any = None,
    retries: int = 0,
    throw: bool | None = None,
    **options: Any,
) -> EagerResult[Any]:
    """Run ``task`` here as a worker would (``Task.apply``) and wrap the outcome."""
    app = task.app
    task_id = task_id or str(uuid.uuid4())
    running = _state.current_task_and_request()
    parent = running[1] if running else None

    def as_dicts(value: Any) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        items = value if isinstance(value, list | tuple) else [value]
        return [dict(item) for item in items]

    while True:
        request = Context(
            id=task_id,
            task=task.name,
            args=list(args),
            kwargs=dict(kwargs),
            retries=retries,
            is_eager=True,
            called_directly=False,
            callbacks=as_dicts(link),
            errbacks=as_dicts(link_error),
            root_id=(parent.root_id if parent else None) or task_id,
            parent_id=parent.id if parent else None,
            hostname=None,
            headers=options.get("headers"),
        )
        outcome = trace(app, task, request, store=app.conf.task_store_eager_result)
        if outcome.state != states.RETRY:
            break
        retries += 1
    propagate = app.conf.task_eager_propagates if throw is None else throw
    if outcome.state == states.FAILURE and propagate and outcome.exception is not None:
        raise outcome.exception
    value = outcome.retval if outcome.state == states.SUCCESS else outcome.exception
    return EagerResult(
        task_id, value, outcome.state, outcome.traceback, app=app, task_name=task.name
    )
