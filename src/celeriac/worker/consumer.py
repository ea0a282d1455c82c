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
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac import serialization
from celeriac.brokers.base import DEAD_LETTER_QUEUE, Delivery
from celeriac.exceptions import CeleriacError, OperationalError
from celeriac.protocol import TaskMessage
from celeriac.worker import policy
from celeriac.worker.hooks import Hook, run_hooks
from celeriac.worker.payload import TaskJob
from celeriac.worker.ratelimit import RateLimits
from celeriac.worker.receive import Reception
from celeriac.worker.revokes import Revocations
from celeriac.worker.settle import Acks, Job, Settlement, background

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.pools.base import Pool

__all__ = ["Consumer"]

logger = logging.getLogger(__name__)


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

    Attributes:
        max_concurrency: The pool's ceiling when it is autoscaled: prefetch follows
            it, not the pool's current size.
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
        self.reserved: collections.deque[Job] = collections.deque()
        self.active: dict[int, Job] = {}
        self.rate_limits: RateLimits[Job] = RateLimits(functools.partial(policy.rate_limit, app))
        self.max_concurrency: int | None = None
        self.processed = 0
        self._due: collections.deque[Job] = collections.deque()
        self._rate_timer: asyncio.TimerHandle | None = None
        self._acks = Acks(app, batch=lambda: self.prefetch_limit)
        self._done: collections.deque[tuple[Job, Any, BaseException | None]] = collections.deque()
        self._settling = False
        self._dispatching = False
        self.settlement = Settlement(
            app,
            hostname=hostname,
            accept=self.accept,
            hooks=self.hooks,
            acks=self._acks,
            hard_limit=lambda message: self._time_limits(message)[0],
            dead_letter=self._dead_letter,
        )
        self.reception = Reception(
            app, accept=self.accept, revoked=self.revoked, hooks=self.hooks, acks=self._acks
        )
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._fetch: asyncio.Future[list[Delivery]] | None = None

    @property
    def prefetch_limit(self) -> int:
        """Most messages held at once (it follows the pool's size when that changes)."""
        if not self.prefetch_multiplier:
            return 10_000
        return max(self.pool.limit, self.max_concurrency or 0, 1) * self.prefetch_multiplier

    def waiting(self) -> list[Job]:
        """Jobs held here but not running: reserved, and waiting for their rate limit."""
        return [*self._due, *self.rate_limits, *self.reserved]

    def held(self) -> int:
        """How many messages are held here, running or waiting (any thread may ask)."""
        return len(self._due) + len(self.rate_limits) + len(self.reserved) + len(self.active)

    def _wants_more(self) -> bool:
        """Whether to take messages now (in batches: not each time a slot frees up).

        When half the prefetch window is free, or the pool has a free slot and nothing
        to give it.
        """
        limit = self.prefetch_limit
        room = limit - self.held()
        if room <= 0:
            return False
        return room * 2 >= limit or (
            len(self.active) < self.pool.limit and not self.reserved and not self._due
        )

    async def run(self) -> None:
        """Consume until :meth:`stop` is called."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        broker = self.app.broker
        renew = asyncio.create_task(self._renew_leases())
        failures = 0
        try:
            while not self.is_stopping():
                if not self._wants_more():
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                room = self.prefetch_limit - self.held()
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
                    job = await self.reception.receive(delivery)
                    if job is not None:
                        self.reserved.append(job)
                await self._dispatch()
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
        await self.settlement.flush_acks()

    async def release(self, *, include_active: bool) -> None:
        """Give reserved (and, for a cold stop, late-ack running) messages back."""
        back = [job.delivery for job in self.waiting()]
        self.reserved.clear()
        self._due.clear()
        self.rate_limits.clear()
        if self._rate_timer is not None:
            self._rate_timer.cancel()
        if include_active:
            back += [job.delivery for job in self.active.values() if not job.acked]
        await self.settlement.flush_acks()
        if back:
            logger.info("Returning %d unstarted message(s) to the broker", len(back))
            await self.app.broker.arequeue(back)

    # -- dispatching --------------------------------------------------------------------

    def _next_job(self) -> Job | None:
        """The next job to run: one whose rate-limit turn came, else the oldest reserved."""
        if not self._due:
            self._due.extend(self.rate_limits.due())
        if self._due:
            return self._due.popleft()
        while self.reserved:
            job = self.reserved.popleft()
            if self.rate_limits.admit(job.message.name, job):
                return job
        return None

    def reset_rate_limit(self, name: str) -> None:
        """Read the rate limit of ``name`` again (it changed) and dispatch what may go."""
        self.rate_limits.reset(name)
        background(self._dispatch())

    def _schedule_rate_wakeup(self) -> None:
        """Dispatch when the next held job's turn comes (busy pool: a finishing task will)."""
        if self._rate_timer is not None:
            self._rate_timer.cancel()
            self._rate_timer = None
        if not self.rate_limits or len(self.active) >= self.pool.limit:
            return
        wait = self.rate_limits.next_due()
        if wait is not None and self._loop is not None and not self._stopping:
            self._rate_timer = self._loop.call_later(wait, lambda: background(self._dispatch()))

    async def _dispatch(self) -> None:
        if not self.pool.is_inline:
            self._dispatch_now()
            return
        try:  # the job runs inside submit(): its early ack goes out first
            while len(self.active) < self.pool.limit and not self._stopping:
                job = self._next_job()
                if job is None:
                    break
                if self._start(job):
                    await self._acks.flush()
                    self._submit(job)
        finally:
            self._schedule_rate_wakeup()

    def _dispatch_now(self) -> None:
        """Hand jobs to the pool while it has free slots (on the loop, not awaiting)."""
        self._dispatching = True
        try:
            while len(self.active) < self.pool.limit and not self._stopping:
                job = self._next_job()
                if job is None:
                    break
                if self._start(job):
                    self._submit(job)
        finally:
            self._dispatching = False
            self._schedule_rate_wakeup()

    def _start(self, job: Job) -> bool:
        """Account ``job`` as running (queueing its early ack); whether to submit it."""
        if job.message.id in self.revoked:  # revoked while it waited here
            background(self.reception.refuse(job.delivery, job.message, expired=False))
            return False
        if not self.app.broker.is_held(job.delivery):
            # Its connection was lost while it waited here: it will be delivered again.
            logger.info("Task %s[%s] taken back by the broker", job.message.name, job.message.id)
            return False
        if not policy.acks_late(self.app, job.message.name):
            job.acked = True
            self._acks.add(job.delivery)
        self.active[id(job)] = job
        self._idle.clear()
        job.time_start = time.time()
        run_hooks(self.hooks, "on_started", job.message)
        return True

    def _submit(self, job: Job) -> None:
        hard, soft = self._time_limits(job.message)
        job.pool_job = self.pool.submit(
            TaskJob(job.message, job.delivery.delivery_info),
            functools.partial(self._report, job),
            time_limit=hard,
            soft_time_limit=soft,
        )
        pid = self.pool.job_pid(job.pool_job) if job.pool_job is not None else None
        job.worker_pid = pid or (None if self.pool.is_supervising else os.getpid())

    def terminate(self, task_ids: Sequence[str], signum: int) -> list[str]:
        """Stop these tasks if they run here (``revoke --terminate``); the ids stopped."""
        stopped = []
        for job in list(self.active.values()):
            if job.message.id not in task_ids or job.pool_job is None:
                continue
            job.terminated = signum
            if self.pool.terminate_job(job.pool_job, signum):
                logger.info("Terminating %s (%s)", job.message.id, signum)
                stopped.append(job.message.id)
            else:
                job.terminated = None
        return stopped

    def _time_limits(self, message: TaskMessage) -> tuple[float | None, float | None]:
        return policy.time_limits(self.app, message, self.time_limit, self.soft_time_limit)

    def _report(self, job: Job, value: Any, error: BaseException | None) -> None:
        # On the loop (prefork reads outcomes there): settled now, so the next job goes
        # out in the callback that read this outcome; from a pool thread, or from inside
        # a dispatch, in one loop callback per batch.
        loop = self._loop
        assert loop is not None
        self._done.append((job, value, error))
        on_loop = threading.get_ident() == self._loop_thread
        if on_loop and not self._dispatching and not self.pool.is_inline:
            self._settle_done()
        elif not self._settling:
            self._settling = True
            if on_loop:
                loop.call_soon(self._settle_done)
            else:
                loop.call_soon_threadsafe(self._settle_done)

    def _settle_done(self) -> None:
        self._settling = False  # first: a report from now on schedules another call
        done = self._done
        while done:
            job, outcome, error = done.popleft()
            self.active.pop(id(job), None)
            self.processed += 1
            try:
                self.settlement.settle(job, outcome, error)
            except Exception:  # one job's settlement must not lose the others
                logger.exception("Settling %s[%s] failed", job.message.name, job.message.id)
        if not self.active:
            self._idle.set()
        if self.pool.is_inline:
            background(self._dispatch())
        else:
            self._dispatch_now()
        if self._wants_more() or self._stopping:
            self._wakeup.set()

    async def _dead_letter(self, delivery: Delivery, reason: str, exc: BaseException) -> None:
        await self.reception.dead_letter(delivery, reason, exc)

    async def _renew_leases(self) -> None:
        broker = self.app.broker
        interval = max(broker.visibility_timeout / 4, 0.05)
        while True:
            await asyncio.sleep(interval)
            held = [job.delivery for job in self.waiting()]
            held += [job.delivery for job in self.active.values() if not job.acked]
            if held:
                try:
                    await broker.arenew(held)
                except CeleriacError as exc:
                    logger.warning("Could not renew message leases: %s", exc)
