"""The consumer: lease messages, hand them to the pool, acknowledge them.

Runs on the worker's event loop. It keeps at most ``prefetch_limit`` messages leased
(reserved plus running), dispatches a reserved message only when the pool has a free
slot, acks early (when the task is handed over) or late (when it finished), and renews
the leases of everything it holds so no other worker gets them while they are here.
Messages it cannot read go to the dead-letter queue; they are never dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac import serialization, states
from celeriac.brokers.base import DEAD_LETTER_QUEUE, Delivery, dead_letter_copy
from celeriac.exceptions import (
    CeleriacError,
    NotRegistered,
    OperationalError,
    TimeLimitExceeded,
    WorkerLostError,
)
from celeriac.protocol import TaskMessage, parse_task_message
from celeriac.worker.execute import INVALID, Outcome
from celeriac.worker.hooks import Hook, run_hooks
from celeriac.worker.revokes import Revocations
from celeriac.worker.workflow import fail_lost_task

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.pools.base import Pool

__all__ = ["Consumer"]

logger = logging.getLogger(__name__)


class _Job:
    __slots__ = ("acked", "delivery", "message", "time_start", "worker_pid")

    def __init__(self, delivery: Delivery, message: TaskMessage) -> None:
        self.delivery = delivery
        self.message = message
        self.acked = False
        self.time_start: float | None = None
        self.worker_pid: int | None = None


class Consumer:
    """Moves messages from the broker through the pool.

    Args:
        app: The app (tasks, settings, broker, backend).
        pool: A started pool.
        queues: Queue names to consume from.
        hostname: This worker's node name.
        prefetch_multiplier: Messages held per pool slot (reserved plus running); 0
            means no limit, 1 takes a message only when a slot is free.
        time_limit: Hard time limit for tasks that set none (seconds).
        soft_time_limit: Soft time limit for tasks that set none (seconds).
        fetch_timeout: Seconds one fetch waits before the loop looks around again.
        hooks: Called around each task (events, statistics, signals), in order.
        revoked: Task ids to refuse.
    """

    def __init__(
        self,
        app: Celery,
        pool: Pool,
        queues: Sequence[str],
        *,
        hostname: str,
        prefetch_multiplier: int,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        fetch_timeout: float = 1.0,
        hooks: Sequence[Hook] = (),
        revoked: Revocations | None = None,
    ) -> None:
        self.app = app
        self.pool = pool
        self.queues = list(queues)
        self.hostname = hostname
        self.prefetch_multiplier = prefetch_multiplier
        self.time_limit = time_limit
        self.soft_time_limit = soft_time_limit
        self.fetch_timeout = fetch_timeout
        self.hooks = list(hooks)
        self.revoked = revoked if revoked is not None else Revocations()
        self.accept = serialization.resolve_accept(app.conf.accept_content)
        self.dead_letter_queue = DEAD_LETTER_QUEUE
        self.reserved: collections.deque[_Job] = collections.deque()
        self.active: dict[int, _Job] = {}
        self.processed = 0
        self._acks: list[Delivery] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fetch: asyncio.Future[list[Delivery]] | None = None

    # -- the loop -------------------------------------------------------------------

    @property
    def prefetch_limit(self) -> int:
        """Most messages held at once (it follows the pool's size when that changes)."""
        return self.pool.limit * self.prefetch_multiplier if self.prefetch_multiplier else 10_000

    async def run(self) -> None:
        """Consume until :meth:`stop` is called."""
        self._loop = asyncio.get_running_loop()
        broker = self.app.broker
        renew = asyncio.create_task(self._renew_leases())
        failures = 0
        try:
            while not self.is_stopping():
                room = self.prefetch_limit - len(self.reserved) - len(self.active)
                if room <= 0:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                self._fetch = asyncio.ensure_future(
                    broker.afetch(self.queues, limit=room, timeout=self.fetch_timeout)
                )
                try:
                    deliveries = await self._fetch
                    failures = 0
                except asyncio.CancelledError:
                    if self.is_stopping():
                        break
                    raise
                except OperationalError as exc:
                    failures += 1
                    await self._fetch_failed(exc, failures)
                    continue
                finally:
                    self._fetch = None
                for delivery in deliveries:
                    await self._receive(delivery)
                await self._dispatch()
                await self._flush_acks()
        finally:
            renew.cancel()

    async def _fetch_failed(self, exc: OperationalError, failures: int) -> None:
        """Log a lost broker connection, then wait before fetching again (or give up)."""
        conf = self.app.conf
        limit = conf.broker_connection_max_retries
        if not conf.broker_connection_retry or (limit is not None and failures > limit):
            raise exc
        delay = min(2.0 * failures, 30.0)
        logger.error(
            "consumer: Connection to broker lost: %s. Trying again in %.2f seconds... (%d/%s)",
            exc,
            delay,
            failures,
            limit or "inf",
        )
        self._wakeup.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), delay)

    def is_stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping

    def stop(self) -> None:
        """Stop fetching; what is reserved stays until :meth:`release` or :meth:`drain`."""
        self._stopping = True
        self._wakeup.set()
        if self._fetch is not None:
            self._fetch.cancel()

    async def drain(self) -> None:
        """Wait until every running task has finished (warm shutdown)."""
        await self._idle.wait()
        await self._flush_acks()

    async def release(self, *, include_active: bool) -> None:
        """Give reserved (and, for a cold stop, late-ack running) messages back."""
        back = [job.delivery for job in self.reserved]
        self.reserved.clear()
        if include_active:
            back += [job.delivery for job in self.active.values() if not job.acked]
        await self._flush_acks()
        if back:
            logger.info("Returning %d unstarted message(s) to the broker", len(back))
            await self.app.broker.arequeue(back)

    # -- receiving --------------------------------------------------------------------

    async def _receive(self, delivery: Delivery) -> None:
        message = delivery.message
        content_type = message.content_type or "application/data"
        if content_type not in self.accept:
            await self._dead_letter(delivery, f"content type {content_type!r} is not accepted")
            return
        try:
            task_message = parse_task_message(message, self.accept)
        except CeleriacError as exc:
            await self._dead_letter(delivery, f"invalid task message: {exc}")
            return
        name, task_id = task_message.name, task_message.id
        logger.info("Task %s[%s] received", name, task_id, extra={"task_id": task_id})
        if name not in self.app.tasks:
            logger.error(
                "Received unregistered task of type %r. The message has been ignored and "
                "discarded (task id %s).",
                name,
                task_id,
                extra={"task_id": task_id},
            )
            await asyncio.to_thread(self.app.backend.mark_as_failure, task_id, NotRegistered(name))
            self._acks.append(delivery)
            return
        expired = task_message.expires is not None and task_message.expires <= self.app.now()
        if expired or task_id in self.revoked:
            await self._refuse(delivery, task_message, expired=expired)
            return
        eta = task_message.eta
        if eta is not None and eta > self.app.now() and self.app.broker.supports_eta:
            # A peer published it without broker-side ETA: hand it back, held until due.
            await self.app.broker.apublish(
                message,
                exchange=delivery.exchange,
                routing_key=delivery.routing_key or delivery.queue,
                eta=eta.timestamp(),
            )
            self._acks.append(delivery)
            return
        self.reserved.append(_Job(delivery, task_message))
        run_hooks(self.hooks, "on_received", task_message)

    async def _refuse(self, delivery: Delivery, message: TaskMessage, *, expired: bool) -> None:
        """Do not run a revoked or expired task: record REVOKED and ack its message."""
        reason = "expired" if expired else "revoked"
        logger.info("Task %s[%s] %s, not running", message.name, message.id, reason)
        await asyncio.to_thread(self.app.backend.mark_as_revoked, message.id, reason)
        self._acks.append(delivery)
        run_hooks(self.hooks, "on_revoked", message, expired=expired)

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        task_id = (
            delivery.message.headers.get("id")
            if isinstance(delivery.message.headers, dict)
            else None
        )
        logger.error(
            "Moving message %s from queue %r to %r: %s",
            task_id or delivery.tag,
            delivery.queue,
            self.dead_letter_queue,
            reason,
        )
        await self.app.broker.adead_letter(delivery, reason)

    # -- dispatching --------------------------------------------------------------------

    def _acks_late(self, job: _Job) -> bool:
        task = self.app.tasks.get(job.message.name)
        if task is not None and task.acks_late is not None:
            return task.acks_late
        return self.app.conf.task_acks_late

    async def _dispatch(self) -> None:
        while self.reserved and len(self.active) < self.pool.limit and not self._stopping:
            job = self.reserved.popleft()
            if job.message.id in self.revoked:  # revoked while it waited here
                await self._refuse(job.delivery, job.message, expired=False)
                continue
            if not self._acks_late(job):
                job.acked = True
                self._acks.append(job.delivery)
                if self.pool.is_inline:  # it runs right now: ack first
                    await self._flush_acks()
            self.active[id(job)] = job
            self._idle.clear()
            job.time_start = time.time()
            job.worker_pid = None if self.pool.is_supervising else os.getpid()
            run_hooks(self.hooks, "on_started", job.message)
            hard, soft = self._time_limits(job.message)
            self.pool.submit(
                (job.message, job.delivery.delivery_info),
                functools.partial(self._report, job),
                time_limit=hard,
                soft_time_limit=soft,
            )

    def _time_limits(self, message: TaskMessage) -> tuple[float | None, float | None]:
        """``[hard, soft]``: from the message header, else the task, else the worker."""
        task = self.app.tasks.get(message.name)
        hard, soft = message.time_limit, message.soft_time_limit
        if hard is None:
            hard = task.time_limit if task is not None and task.time_limit else self.time_limit
        if soft is None:
            soft = (
                task.soft_time_limit
                if task is not None and task.soft_time_limit
                else self.soft_time_limit
            )
        return hard, soft

    def _report(self, job: _Job, value: Any, error: BaseException | None) -> None:
        # Called from a pool thread (or inline): hop onto the loop.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._finished, job, value, error)

    def _finished(self, job: _Job, outcome: Outcome | None, error: BaseException | None) -> None:
        self.active.pop(id(job), None)
        self.processed += 1
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
            self._loop_task(self._dead_letter_copy(job, reason))
        elif not job.acked:
            job.acked = True
            if outcome is not None and outcome.state == states.REJECTED and outcome.requeue:
                self._loop_task(self.app.broker.arequeue([job.delivery]))
            else:
                self._acks.append(job.delivery)
        if not self.active:
            self._idle.set()
        self._loop_task(self._dispatch_and_flush())
        self._wakeup.set()

    def _lost(self, job: _Job, error: BaseException) -> bool:
        """Handle a job the pool lost (child died, hard time limit); whether it was one.

        The task never stored an outcome, so the worker stores FAILURE here, unless the
        message is to be redelivered (``acks_late`` plus ``reject_on_worker_lost``).
        """
        name, task_id = job.message.name, job.message.id
        if isinstance(error, TimeLimitExceeded):
            hard = self._time_limits(job.message)[0]
            logger.error("Hard time limit (%ss) exceeded for %s[%s]", hard, name, task_id)
        elif not isinstance(error, WorkerLostError):
            return False
        elif not job.acked and self._reject_on_worker_lost(job):
            logger.error("Task %s[%s] lost its worker process: requeued (%s)", name, task_id, error)
            job.acked = True
            self._loop_task(self.app.broker.arequeue([job.delivery]))
            return True
        else:
            logger.error("Task handler raised error: %r", error, extra={"task_id": task_id})
        self._loop_task(
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

    def _reject_on_worker_lost(self, job: _Job) -> bool:
        task = self.app.tasks.get(job.message.name)
        if task is not None and task.reject_on_worker_lost is not None:
            return task.reject_on_worker_lost
        return bool(self.app.conf.task_reject_on_worker_lost)

    async def _dispatch_and_flush(self) -> None:
        await self._dispatch()
        await self._flush_acks()

    async def _dead_letter_copy(self, job: _Job, reason: str) -> None:
        if job.acked:  # already acked early: keep a copy, lose nothing
            logger.error(
                "Task %s[%s]: %s; copy kept in %r",
                job.message.name,
                job.message.id,
                reason,
                self.dead_letter_queue,
            )
            delivery = job.delivery
            await self.app.broker.apublish(
                dead_letter_copy(delivery, reason), routing_key=self.dead_letter_queue
            )
        else:
            job.acked = True
            await self._dead_letter(job.delivery, reason)

    def _loop_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_task_error)

    async def _flush_acks(self) -> None:
        if self._acks:
            batch, self._acks = self._acks, []
            await self.app.broker.aack(batch)

    async def _renew_leases(self) -> None:
        broker = self.app.broker
        interval = max(broker.visibility_timeout / 4, 0.05)
        while True:
            await asyncio.sleep(interval)
            held = [job.delivery for job in self.reserved]
            held += [job.delivery for job in self.active.values() if not job.acked]
            if held:
                try:
                    await broker.arenew(held)
                except CeleriacError as exc:
                    logger.warning("Could not renew message leases: %s", exc)


def _log_task_error(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("Consumer background step failed", exc_info=task.exception())
