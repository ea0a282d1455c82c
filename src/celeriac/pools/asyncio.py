"""The ``asyncio`` pool: every job is a coroutine on the worker's own event loop.

Its target returns an awaitable (the worker gives pools that declare ``is_async`` the
async run path, which awaits ``async def`` tasks on the loop and runs sync ones in a
thread). ``submit`` only schedules an :class:`asyncio.Task`, so it never blocks the
loop; the worker hands over at most ``concurrency`` jobs at once, which is what bounds
the coroutines in flight (thousands are normal).

Time limits and terminate reach a job's coroutine through its
:class:`~celeriac._internal.interrupts.JobScope`: the soft limit raises
``SoftTimeLimitExceeded`` at the ``await`` the task is waiting on; the hard limit and
:meth:`AsyncioPool.terminate_job` (``revoke --terminate``) cancel the coroutine, and
the job then ends as a failure with ``TimeLimitExceeded`` (or as REVOKED). A task that
swallows the cancellation is given :data:`UNWIND_GRACE` seconds, then abandoned and
reported lost. Sync tasks run in threads, which cannot be interrupted: limits do not
apply to them here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, final

from celeriac._internal.interrupts import CURRENT_SCOPE, JobScope
from celeriac.exceptions import SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded
from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["UNWIND_GRACE", "AsyncioPool"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a cancelled coroutine may take to unwind before its job is abandoned.
UNWIND_GRACE = 5.0


class _Job:
    __slots__ = ("number", "on_done", "payload", "reported", "scope", "task", "timers")

    def __init__(self, number: int, payload: Any, on_done: DoneCallback) -> None:
        self.number = number
        self.payload = payload
        self.on_done = on_done
        self.scope = JobScope()
        self.task: asyncio.Task[Any] | None = None
        self.timers: list[asyncio.TimerHandle] = []
        self.reported = False

    def report(self, value: Any, error: BaseException | None) -> None:
        for timer in self.timers:
            timer.cancel()
        if not self.reported:
            self.reported = True
            self.on_done(value, error)


@final
class AsyncioPool(Pool):
    """Runs jobs as tasks on the event loop that called :meth:`start`."""

    name = "asyncio"
    is_async = True

    def __init__(
        self, *, concurrency: int, target: Target, options: PoolOptions | None = None
    ) -> None:
        super().__init__(concurrency=concurrency, target=target, options=options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: dict[int, _Job] = {}
        self._numbers = itertools.count(1)
        self._stopping = False
        self._cancelled: list[asyncio.Task[Any]] = []

    def start(self) -> None:
        """Adopt the running event loop (the worker's) as the one jobs run on.

        Raises:
            RuntimeError: no event loop is running in this thread.
        """
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError as exc:
            raise RuntimeError("the asyncio pool must be started on a running loop") from exc

    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> int | None:
        """Schedule the job on the loop (from any thread) and return its number at once."""
        loop = self._require_loop()
        job = _Job(next(self._numbers), payload, on_done)
        if self._on_loop():
            self._start_job(job, time_limit, soft_time_limit)
        else:
            loop.call_soon_threadsafe(self._start_job, job, time_limit, soft_time_limit)
        return job.number

    def _start_job(self, job: _Job, hard: float | None, soft: float | None) -> None:
        loop = self._require_loop()
        context = contextvars.copy_context()
        context.run(CURRENT_SCOPE.set, job.scope)
        # The task copies the context it is created in: this job's scope goes with it.
        job.task = context.run(loop.create_task, self._run(job.payload))
        self._jobs[job.number] = job
        if soft:
            job.timers.append(loop.call_later(soft, self._soft_limit, job, soft))
        if hard:
            job.timers.append(loop.call_later(hard, self._hard_limit, job, hard))
        job.task.add_done_callback(functools.partial(self._finished, job))

    async def _run(self, payload: Any) -> Any:
        awaitable: Awaitable[Any] = self.target(payload)
        return await awaitable

    def _soft_limit(self, job: _Job, limit: float) -> None:
        logger.warning("Soft time limit (%ss) exceeded for %s", limit, self._describe(job))
        exc = SoftTimeLimitExceeded(limit)
        exc.limit = limit
        job.scope.interrupt(exc, final=False)

    def _hard_limit(self, job: _Job, limit: float) -> None:
        logger.error("Hard time limit (%ss) exceeded for %s", limit, self._describe(job))
        self._end(job, TimeLimitExceeded(limit))

    def _end(self, job: _Job, exc: BaseException) -> bool:
        """Cancel the job's coroutine (it then ends with ``exc``); abandon it if it hangs."""
        if not job.scope.interrupt(exc, final=True):
            return False
        loop = self._require_loop()
        job.timers.append(loop.call_later(UNWIND_GRACE, self._abandon, job, exc))
        return True

    def _abandon(self, job: _Job, exc: BaseException) -> None:
        if job.task is not None and not job.task.done():
            logger.error("%s ignored its cancellation: abandoned", self._describe(job))
            job.task.cancel()
            job.report(None, exc)

    def _finished(self, job: _Job, task: asyncio.Task[Any]) -> None:
        self._jobs.pop(job.number, None)
        if task.cancelled():
            if not self._stopping:
                job.report(None, asyncio.CancelledError())
            return
        error = task.exception()
        job.report(None if error is not None else task.result(), error)

    def terminate_job(self, job: int, signum: int) -> bool:
        """Cancel job ``job``'s coroutine (``signum`` means nothing here); it ends REVOKED.

        Safe to call from any thread. Returns whether its coroutine was running.
        """
        return self._on_loop_thread(self._terminate, lambda one: one.number == job)

    def terminate(self, task_id: str) -> bool:
        """Cancel the running coroutine of task ``task_id``; it is recorded REVOKED.

        Safe to call from any thread. Returns whether such a coroutine was running.
        """
        return self._on_loop_thread(self._terminate, lambda one: one.scope.name == task_id)

    def job_pid(self, job: int) -> int | None:
        """This process's pid while ``job`` runs (jobs run in the worker itself)."""
        return os.getpid() if job in self._jobs else None

    def _on_loop_thread(self, fn: Callable[[T], bool], arg: T) -> bool:
        if self._on_loop():
            return fn(arg)
        loop = self._require_loop()
        return asyncio.run_coroutine_threadsafe(_call(fn, arg), loop).result()

    def _terminate(self, matches: Callable[[_Job], bool]) -> bool:
        for job in list(self._jobs.values()):
            if matches(job):
                logger.info("Terminating %s", self._describe(job))
                return self._end(job, TaskRevokedError("terminated"))
        return False

    def resize(self, size: int) -> None:
        """Allow ``size`` coroutines in flight from now on."""
        if size < 1:
            raise ValueError(f"concurrency must be at least 1, not {size}")
        self.concurrency = size

    def stop(self, *, wait: bool) -> None:
        """Cancel what still runs (the worker has already waited for it on a warm stop).

        The cancelled coroutines unwind on the loop: :meth:`wait_stopped` waits for them.
        """
        self._stopping = True
        for job in list(self._jobs.values()):
            for timer in job.timers:
                timer.cancel()
            if job.task is not None:
                job.task.cancel()
                self._cancelled.append(job.task)
        self._jobs.clear()

    async def wait_stopped(self) -> None:
        """Wait until the coroutines :meth:`stop` cancelled are over (at most UNWIND_GRACE)."""
        pending = [task for task in self._cancelled if not task.done()]
        self._cancelled.clear()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=UNWIND_GRACE)
            for task in stuck:
                logger.error("%r ignored its cancellation at shutdown: abandoned", task)

    def _describe(self, job: _Job) -> str:
        describe = self.options.describe
        return describe(job.payload) if describe is not None else repr(job.scope.name)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the asyncio pool is not started")
        return self._loop

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False


async def _call(fn: Callable[[T], bool], arg: T) -> bool:
    return fn(arg)
