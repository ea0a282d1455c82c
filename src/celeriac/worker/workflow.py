"""What a finished task sets in motion: callbacks, the next chain step, errbacks, chords.

Called by :mod:`celeriac.worker.execute` in the place the task ran, after its outcome
is known. Signatures arrive as dicts from the message's ``embed`` and are rebuilt as
the canvas type their ``subtask_type`` names, so a chain step can be a group or a chord.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac._internal.loops import run_coroutine
from celeriac.app.task import Context
from celeriac.canvas import Signature
from celeriac.exceptions import CeleriacError, ChordError
from celeriac.worker import task_signals

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.backends.base import ResultBackend
    from celeriac.protocol import TaskMessage

__all__ = [
    "fail_lost_task",
    "record_failure",
    "report_chord_part",
    "revoke_unless_done",
    "send_callbacks",
    "send_errbacks",
]

logger = logging.getLogger(__name__)


def send_callbacks(app: Celery, request: Context, retval: Any) -> None:
    """Send ``link`` callbacks and the next chain step, each with ``retval`` first."""
    for callback in request.callbacks or ():
        Signature.from_dict(callback, app).apply_async((retval,))
    if request.chain:
        remaining = list(request.chain)
        step = Signature.from_dict(remaining.pop(), app)
        step.apply_async((retval,), chain=remaining or None)


def send_errbacks(app: Celery, request: Context, exc: BaseException, tb: str) -> None:
    """Call local errbacks taking ``(request, exc, traceback)``; send the others."""
    for errback in request.errbacks or ():
        sig = Signature.from_dict(errback, app)
        local = app.tasks.get(sig.task)
        if local is not None and _takes_request_exc_tb(local):
            called = local.run(request, exc, tb, *sig.args)
            if inspect.isawaitable(called):  # an async def errback
                run_coroutine(called)
        else:
            sig.apply_async((request.id,), parent_id=request.id)


def _takes_request_exc_tb(task: Task[Any, Any]) -> bool:
    fn = getattr(task, "_fn", None)
    if fn is None:
        return False
    params = list(inspect.signature(fn).parameters.values())
    if task.bind:
        params = params[1:]
    return len(params) >= 2


def record_failure(
    app: Celery, request: Context, exc: BaseException, tb: str, *, store_own: bool
) -> None:
    """Store FAILURE for the task, for every chain step waiting on it, and for its chord.

    Waiters on later chain steps would otherwise hang, and the chord must count the part.
    """
    backend = app.backend
    if store_own and request.id:
        backend.mark_as_failure(request.id, exc, tb, request)
    for step in request.chain or ():
        chained_id = (step.get("options") or {}).get("task_id")
        if chained_id:
            backend.mark_as_failure(chained_id, exc, tb, request)
    report_chord_part(app, request, states.FAILURE)


def fail_lost_task(
    app: Celery,
    message: TaskMessage,
    delivery_info: dict[str, Any],
    hostname: str,
    accept: frozenset[str],
    error: BaseException,
) -> None:
    """Record a task the pool lost (child died, hard time limit) as a failure.

    Like a failure raised by the task: its chain steps fail too, its chord counts the
    part, and its errbacks run, so nothing waits forever on it.
    """
    from celeriac.worker.execute import build_request

    if app.backend.get_task_meta(message.id).get("status") == states.SUCCESS:
        # It finished and stored its result; the process was lost afterwards (as Celery
        # 5.7 does: no failure on top, no errbacks, no second count in a chord).
        logger.warning(
            "Task %s[%s] succeeded before its worker process was lost: %r",
            message.name,
            message.id,
            error,
        )
        return
    try:
        args, kwargs, embed = message.decode_body(accept)
    except CeleriacError:
        app.backend.mark_as_failure(message.id, error)
        return
    request = build_request(
        message, args, kwargs, embed, hostname=hostname, delivery_info=delivery_info
    )
    tb = f"{type(error).__name__}: {error}"
    record_failure(app, request, error, tb, store_own=True)
    send_errbacks(app, request, error, tb)
    task = app.tasks.get(message.name)
    if task is not None:  # in this process, as Celery's worker sends it for a lost job
        task_signals.failure(task, request, error, tb)


def revoke_unless_done(
    backend: ResultBackend, task_id: str, reason: str, request: Any = None
) -> None:
    """Record REVOKED (``reason``) unless the task already stored a result.

    ``request`` (the task's message) carries ``reply_to``, where ``rpc://`` sends it.
    """
    if backend.get_task_meta(task_id).get("status") not in states.READY_STATES:
        backend.mark_as_revoked(task_id, reason, request=request)


def report_chord_part(app: Celery, request: Context, state: str) -> None:
    """Count a finished chord-header task; the last one sends (or fails) the body."""
    if not request.chord or not request.group or state not in states.READY_STATES:
        return
    body = Signature.from_dict(request.chord, app)
    try:
        metas = app.backend.on_chord_part_return(
            request.group, request.id or "", request.group_index, state
        )
    except CeleriacError as exc:
        _fail_body(app, body, ChordError(f"cannot join chord {request.group}: {exc}"))
        return
    if metas is None:
        return
    failed = next((m for m in metas if m.get("status") in states.PROPAGATE_STATES), None)
    if failed is None:
        body.apply_async(([meta.get("result") for meta in metas],))
        return
    error = ChordError(f"Dependency {failed.get('task_id')} raised {failed.get('result')!r}")
    _fail_body(app, body, error)


def _fail_body(app: Celery, body: Signature[Any], error: ChordError) -> None:
    """Record the chord's body as failed and fire its errbacks."""
    logger.error("Chord body %s failed: %s", body.task, error)
    body_id = body.freeze().id
    if body_id:
        app.backend.mark_as_failure(body_id, error)
    for errback in body.options.get("link_error") or ():
        Signature.from_dict(errback, app).apply_async((body_id,), parent_id=body_id)
    outer = body.options
    if outer.get("chord") and outer.get("group_id"):  # the body is itself a chord part
        part = Context(
            id=body_id,
            group=outer["group_id"],
            group_index=outer.get("group_index"),
            chord=outer["chord"],
        )
        report_chord_part(app, part, states.FAILURE)
