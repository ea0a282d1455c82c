"""Settling a task that is over: record what the task could not, then ack its message.

(Or requeue it, or dead-letter it; acks go out in batches, :class:`Acks`.) The task
records its own outcome where it ran (worker/execute.py). The worker records what a
task cannot: a job the pool lost (the child died, or was killed at the hard time limit)
fails with ``WorkerLostError`` or ``TimeLimitExceeded``, unless the message is to be
delivered again (``acks_late`` with ``reject_on_worker_lost``, or a timeout without
``acks_on_timeout``); a job stopped by ``revoke --terminate`` is REVOKED with reason
``terminated`` and never redelivered. A failed ``acks_late`` task is acked, or rejected
without requeue when its ``acks_on_failure`` is false (``task_acks_on_failure_or_timeout``,
as in Celery).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.brokers.base import DEAD_LETTER_QUEUE, Delivery, dead_letter_copy
from celeriac.exceptions import (
    CeleriacError,
    DecodeError,
    OperationalError,
    TimeLimitExceeded,
    WorkerLostError,
)
from celeriac.worker import policy
from celeriac.worker.execute import INVALID, Outcome
from celeriac.worker.hooks import Hook, run_hooks
from celeriac.worker.workflow import fail_lost_task, revoke_unless_done

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.protocol import TaskMessage

__all__ = ["Acks", "Job", "Settlement", "background"]

logger = logging.getLogger(__name__)

#: Seconds an ack may wait for others to share its broker call.
ACK_DELAY = 0.005
#: Seconds before acks that failed on a lost connection are sent again.
_ACK_RETRY = 1.0


class Job:
    """One message the consumer holds, from receipt until it is settled."""

    __slots__ = (
        "acked",
        "delivery",
        "message",
        "pool_job",
        "terminated",
        "time_start",
        "worker_pid",
    )

    def __init__(self, delivery: Delivery, message: TaskMessage) -> None:
        self.delivery = delivery
        self.message = message
        self.acked = False
        self.time_start: float | None = None
        self.worker_pid: int | None = None
        self.pool_job: int | None = None  # the pool's number for it, to terminate it
        self.terminated: int | None = None  # the signal it was terminated with


def background(coro: Awaitable[Any]) -> None:
    """Run ``coro`` on the loop without waiting for it; its failure is logged."""
    task = asyncio.ensure_future(coro)
    task.add_done_callback(_log_task_error)


def _log_task_error(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("Consumer background step failed", exc_info=task.exception())


class Acks:
    """The deliveries to acknowledge, sent to the broker in batches, in the background.

    At most one ack call is under way; deliveries added meanwhile go in the next. A
    batch goes out once it reaches ``batch()`` deliveries, or :data:`ACK_DELAY` after
    the first one (an early ack is sent a moment after its job went to the pool, as
    Celery's prefork acks once a child took the job). :meth:`flush` sends everything
    now and waits for it.

    Args:
        app: The app, whose broker acks.
        batch: How many deliveries make a batch worth sending at once.
    """

    def __init__(self, app: Celery, *, batch: Callable[[], int]) -> None:
        self.app = app
        self.batch = batch
        self.pending: list[Delivery] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None
        self._failures = 0  # ack calls that met a lost connection

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, delivery: Delivery) -> None:
        """Ack ``delivery`` soon (called on the event loop)."""
        self.pending.append(delivery)
        if self._sending is None:
            self._arm()

    def _arm(self) -> None:
        if len(self.pending) >= self.batch():
            self._send()
        elif self._timer is None and self.pending:
            self._timer = asyncio.get_running_loop().call_later(ACK_DELAY, self._send)

    async def flush(self) -> None:
        """Send every pending ack now and wait until none is under way.

        Acks that meet a lost connection are kept and tried again a second later.
        """
        failures = self._failures
        while True:
            sending = self._sending
            if sending is None:
                if not self.pending or self._failures > failures:
                    return
                sending = self._send()
            if sending is not None:
                await asyncio.shield(sending)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(self) -> asyncio.Task[None] | None:
        self._stop_timer()
        if self._sending is None and self.pending:
            self._sending = asyncio.ensure_future(self._send_all())
        return self._sending

    async def _send_all(self) -> None:
        batch = list(self.pending)
        self.pending.clear()
        retry = False
        try:
            await self.app.broker.aack(batch)
        except OperationalError as exc:  # still leased here: tried again
            logger.warning("Could not ack %d message(s): %s", len(batch), exc)
            self.pending[:0] = batch
            self._failures += 1
            retry = True
        except CeleriacError as exc:  # their leases expire: they come back
            logger.error("Could not ack %d message(s): %s", len(batch), exc)
        finally:
            self._sending = None
        if retry:
            self._timer = asyncio.get_running_loop().call_later(_ACK_RETRY, self._send)
        else:  # what came meanwhile waits for its own batch or delay
            self._arm()


class Settlement:
    """Settles finished jobs for one consumer.

    Args:
        app: The app (tasks, settings, broker, backend).
        hostname: The worker's node name.
        accept: Content types the worker decodes.
        hooks: The consumer's hooks.
        acks: The consumer's acks; settled deliveries are added.
        hard_limit: The hard time limit a message ran with (for the log line).
        dead_letter: Moves an unacked delivery to the dead-letter queue, with a reason
            and the error (which the hooks' ``on_rejected`` gets).
    """

    def __init__(
        self,
        app: Celery,
        *,
        hostname: str,
        accept: frozenset[str],
        hooks: Sequence[Hook],
        acks: Acks,
        hard_limit: Callable[[TaskMessage], float | None],
        dead_letter: Callable[[Delivery, str, BaseException], Awaitable[None]],
    ) -> None:
        self.app = app
        self.hostname = hostname
        self.accept = accept
        self.hooks = hooks
        self.acks = acks
        self.hard_limit = hard_limit
        self.dead_letter = dead_letter

    def settle(self, job: Job, outcome: Outcome | None, error: BaseException | None) -> None:
        """Record and acknowledge a job the pool reported on (``outcome`` or ``error``)."""
        if job.terminated is not None and error is not None:
            self._terminated(job)
        else:
            run_hooks(self.hooks, "on_finished", job.message, outcome, error)
            if error is not None and not self._lost(job, error):
                logger.error(
                    "Pool job for %s[%s] crashed: %r",
                    job.message.name,
                    job.message.id,
                    error,
                    exc_info=error,
                )
        if outcome is not None and outcome.state == INVALID:
            reason = f"cannot decode body: {outcome.exception}"
            error = outcome.exception or DecodeError(reason)
            background(self._dead_letter_copy(job, reason, error))
        elif not job.acked:
            job.acked = True
            if outcome is not None and outcome.state == states.REJECTED:
                settle = self.app.broker.arequeue if outcome.requeue else self.app.broker.areject
                background(settle([job.delivery]))
            elif self._rejects_failure(job, outcome, error):
                background(self.app.broker.areject([job.delivery]))
            else:
                self.acks.add(job.delivery)

    def _rejects_failure(
        self, job: Job, outcome: Outcome | None, error: BaseException | None
    ) -> bool:
        """Whether a failed ``acks_late`` task is rejected, not acked (``acks_on_failure``).

        A timed-out one was requeued already unless ``acks_on_timeout``; a terminated one
        is acked, as Celery acks a revoked task.
        """
        if job.terminated is not None or isinstance(error, TimeLimitExceeded):
            return False
        failed = error is not None or (outcome is not None and outcome.state == states.FAILURE)
        return failed and not policy.acks_on_failure(self.app, job.message.name)

    async def flush_acks(self) -> None:
        """Send the pending acks now (after a lost connection they are kept for later)."""
        await self.acks.flush()

    def _terminated(self, job: Job) -> None:
        """Record a task stopped by ``revoke --terminate`` as REVOKED (``terminated``)."""
        message, signum = job.message, job.terminated
        logger.info("Task %s[%s] terminated (signal %s)", message.name, message.id, signum)
        background(
            asyncio.to_thread(
                revoke_unless_done, self.app.backend, message.id, "terminated", message
            )
        )
        run_hooks(self.hooks, "on_revoked", message, expired=False, signum=signum)

    def _lost(self, job: Job, error: BaseException) -> bool:
        """Handle a job the pool lost (child died, hard time limit); whether it was one.

        The task never stored an outcome, so the worker stores FAILURE here, unless the
        message is to be redelivered (``acks_late`` plus ``reject_on_worker_lost``).
        """
        name, task_id = job.message.name, job.message.id
        if isinstance(error, TimeLimitExceeded):
            hard = self.hard_limit(job.message)
            if not job.acked and not policy.acks_on_timeout(self.app, name):
                logger.error(
                    "Hard time limit (%ss) exceeded for %s[%s]: requeued", hard, name, task_id
                )
                job.acked = True
                background(self.app.broker.arequeue([job.delivery]))
                return True
            logger.error("Hard time limit (%ss) exceeded for %s[%s]", hard, name, task_id)
        elif not isinstance(error, WorkerLostError):
            return False
        elif not job.acked and policy.reject_on_worker_lost(self.app, name):
            logger.error("Task %s[%s] lost its worker process: requeued (%s)", name, task_id, error)
            job.acked = True
            background(self.app.broker.arequeue([job.delivery]))
            return True
        else:
            logger.error("Task handler raised error: %r", error, extra={"task_id": task_id})
        background(
            asyncio.to_thread(
                fail_lost_task,
                self.app,
                job.message,
                job.delivery.delivery_info,
                self.hostname,
                self.accept,
                error,
            )
        )
        return True

    async def _dead_letter_copy(self, job: Job, reason: str, exc: BaseException) -> None:
        if job.acked:  # already acked early: keep a copy, lose nothing
            logger.error(
                "Task %s[%s]: %s; copy kept in %r",
                job.message.name,
                job.message.id,
                reason,
                DEAD_LETTER_QUEUE,
            )
            await self.app.broker.apublish(
                dead_letter_copy(job.delivery, reason), routing_key=DEAD_LETTER_QUEUE
            )
            run_hooks(self.hooks, "on_rejected", job.delivery.message, exc)
        else:
            job.acked = True
            await self.dead_letter(job.delivery, reason, exc)
