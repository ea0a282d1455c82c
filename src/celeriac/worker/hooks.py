"""What happens around each task on the worker's main loop, as an ordered list of hooks.

The consumer calls every hook at the same points (a message received, a task handed to
the pool, a task finished, a task refused as revoked); events, statistics and signals
are hooks. A hook that raises is logged and the others still run: a hook can never
stop the worker.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac import signals, states
from celeriac.protocol import safe_repr

if TYPE_CHECKING:
    from celeriac.events.dispatcher import EventDispatcher
    from celeriac.protocol import Message, TaskMessage
    from celeriac.worker.execute import Outcome
    from celeriac.worker.worker import Worker

__all__ = ["EventsHook", "Hook", "SignalsHook", "StatsHook", "run_hooks"]

logger = logging.getLogger(__name__)


class Hook:
    """Base of worker hooks; every method is optional."""

    def on_received(self, message: TaskMessage) -> None:
        """A task message was accepted and reserved."""

    def on_started(self, message: TaskMessage) -> None:
        """The task was handed to the pool."""

    def on_finished(
        self, message: TaskMessage, outcome: Outcome | None, error: BaseException | None
    ) -> None:
        """The task finished (``outcome``) or the pool lost it (``error``)."""

    def on_revoked(self, message: TaskMessage, *, expired: bool, signum: int | None = None) -> None:
        """The task was refused (revoked, expired), or stopped while running (``signum``)."""

    def on_unknown(self, message: TaskMessage, exc: BaseException) -> None:
        """A message named a task this worker does not have (its result is FAILURE)."""

    def on_rejected(self, message: Message, exc: BaseException) -> None:
        """A message no task can use (undecodable, not a task) went to the dead letters."""


def run_hooks(hooks: Sequence[Hook], method: str, *args: Any, **kwargs: Any) -> None:
    """Call ``method`` on every hook, logging (not raising) what they raise."""
    for hook in hooks:
        try:
            getattr(hook, method)(*args, **kwargs)
        except Exception:
            logger.exception("Worker hook %s.%s failed", type(hook).__name__, method)


class StatsHook(Hook):
    """Counts finished tasks by name (``inspect stats`` shows ``total``)."""

    def __init__(self) -> None:
        self.total: collections.Counter[str] = collections.Counter()

    def on_finished(
        self, message: TaskMessage, outcome: Outcome | None, error: BaseException | None
    ) -> None:
        """Count the task."""
        self.total[message.name] += 1


class EventsHook(Hook):
    """Sends Celery's task events (batched on ``task.multi``)."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.dispatcher = dispatcher
        self._started: dict[str, float] = {}

    def on_received(self, message: TaskMessage) -> None:
        """``task-received``."""
        if not self.dispatcher.enabled:  # the check is the dispatcher's; this one is cheap
            return
        eta, expires = message.eta, message.expires
        self.dispatcher.buffer_task_event(
            "task-received",
            {
                "uuid": message.id,
                "name": message.shadow or message.name,
                "args": message.argsrepr,
                "kwargs": message.kwargsrepr,
                "root_id": message.root_id,
                "parent_id": message.parent_id,
                "retries": message.retries,
                "eta": eta.isoformat() if eta else None,
                "expires": expires.isoformat() if expires else None,
            },
        )

    def on_started(self, message: TaskMessage) -> None:
        """``task-started``."""
        if self.dispatcher.enabled:
            self._started[message.id] = time.monotonic()
            self.dispatcher.buffer_task_event("task-started", {"uuid": message.id})

    def on_finished(
        self, message: TaskMessage, outcome: Outcome | None, error: BaseException | None
    ) -> None:
        """``task-succeeded``, ``-failed``, ``-retried`` or ``-rejected``."""
        started = self._started.pop(message.id, None)
        if not self.dispatcher.enabled:
            return
        send = self.dispatcher.buffer_task_event
        if error is not None or outcome is None:
            send(
                "task-failed",
                {"uuid": message.id, "exception": safe_repr(error), "traceback": None},
            )
            return
        state = outcome.state
        if state == states.SUCCESS:
            runtime = outcome.runtime or (time.monotonic() - started if started else 0.0)
            result = outcome.retval
            send(
                "task-succeeded",
                {
                    "uuid": message.id,
                    "result": "None" if result is None else safe_repr(result),
                    "runtime": runtime,
                },
            )
        elif state in (states.FAILURE, states.RETRY):
            send(
                "task-failed" if state == states.FAILURE else "task-retried",
                {
                    "uuid": message.id,
                    "exception": safe_repr(outcome.exception),
                    "traceback": outcome.traceback,
                },
            )
        elif state == states.REJECTED:
            send("task-rejected", {"uuid": message.id, "requeue": outcome.requeue})

    def on_revoked(self, message: TaskMessage, *, expired: bool, signum: int | None = None) -> None:
        """``task-revoked``."""
        self._started.pop(message.id, None)
        self.dispatcher.buffer_task_event(
            "task-revoked",
            {
                "uuid": message.id,
                "terminated": signum is not None,
                "signum": signum,
                "expired": expired,
            },
        )


class SignalsHook(Hook):
    """Sends the task signals of the worker's main process, as Celery's consumer does.

    ``task_received``, ``task_unknown`` and ``task_rejected`` come from the consumer;
    ``task_revoked`` from the task. ``request`` is the task's message (with ``id``,
    ``name``, ``headers``...; its body is decoded where the task runs, not here).
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def on_received(self, message: TaskMessage) -> None:
        """``task_received``."""
        if signals.task_received.has_receivers:
            signals.task_received.send(sender=self.worker.consumer, request=message)

    def on_revoked(self, message: TaskMessage, *, expired: bool, signum: int | None = None) -> None:
        """``task_revoked``."""
        if signals.task_revoked.has_receivers:
            signals.task_revoked.send(
                sender=self.worker.app.tasks.get(message.name, message.name),
                request=message,
                terminated=signum is not None,
                signum=signum,
                expired=expired,
            )

    def on_unknown(self, message: TaskMessage, exc: BaseException) -> None:
        """``task_unknown``: ``message`` is the broker's message, as in Celery."""
        signals.task_unknown.send(
            sender=self.worker.consumer,
            message=message.message,
            exc=exc,
            name=message.name,
            id=message.id,
        )

    def on_rejected(self, message: Message, exc: BaseException) -> None:
        """``task_rejected``."""
        signals.task_rejected.send(sender=self.worker.consumer, message=message, exc=exc)
