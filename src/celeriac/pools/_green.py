"""What the ``gevent`` and ``eventlet`` pools share: each job is a greenlet.

Jobs run as greenlets in the worker's own thread, next to its event loop, which waits
on the patched ``select`` and so lets them run whenever it waits (the command line
monkey-patches before anything is imported; see ``celeriac/_internal/greenpatch.py``).
A job that blocks on patched I/O (sockets, ``time.sleep``) lets the others run; one
that computes without blocking holds every other job, and the worker, until it is done.

The worker hands over at most ``concurrency`` jobs at once, which is what bounds the
greenlets in flight (hundreds are normal). Time limits and terminate throw an exception
into the job's greenlet where it waits:

- the soft limit throws ``SoftTimeLimitExceeded`` (the task may catch it and clean up);
- the hard limit and :meth:`GreenPool.terminate_job` (``revoke --terminate``) throw an
  exception the task does not see as an ``Exception``; the job then reports
  ``TimeLimitExceeded`` (or that it was terminated), even if the task swallowed it.

A job that never waits cannot be interrupted: limits reach it when it next blocks.
A subclass supplies the library's primitives: spawn now, spawn later, throw, join.
"""

from __future__ import annotations

import itertools
import logging
import os
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from celeriac.exceptions import SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded
from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["COLD_STOP_GRACE", "GreenPool"]

logger = logging.getLogger(__name__)

#: Seconds a cold stop waits for killed greenlets to unwind before leaving them.
COLD_STOP_GRACE = 1.0


class _Killed(BaseException):
    """Thrown into a job's greenlet to end it; ``except Exception`` does not stop it."""


class _Job:
    __slots__ = (
        "error",
        "finished",
        "greenlet",
        "number",
        "on_done",
        "payload",
        "silent",
        "started",
        "timers",
    )

    def __init__(self, number: int, payload: Any, on_done: DoneCallback) -> None:
        self.number = number
        self.payload = payload
        self.on_done = on_done
        self.greenlet: Any = None
        self.timers: list[Any] = []
        self.started = False
        self.finished = False
        self.error: BaseException | None = None  # what it ends with once killed
        self.silent = False  # killed by a cold stop: report nothing


class GreenPool(Pool):
    """Base class of the greenlet pools: jobs as greenlets, limits by throwing into them."""

    is_supervising = True

    def __init__(
        self, *, concurrency: int, target: Target, options: PoolOptions | None = None
    ) -> None:
        super().__init__(concurrency=concurrency, target=target, options=options)
        self._jobs: dict[int, _Job] = {}
        self._numbers = itertools.count(1)

    # -- the library's primitives --------------------------------------------------

    @abstractmethod
    def _check_patched(self) -> None:
        """Raise ``ImproperlyConfigured`` unless the standard library is patched."""

    @abstractmethod
    def _spawn(self, fn: Callable[..., None], *args: Any) -> Any:
        """Start ``fn(*args)`` in a new greenlet; the greenlet."""

    @abstractmethod
    def _spawn_later(self, seconds: float, fn: Callable[..., None], *args: Any) -> Any:
        """Start ``fn(*args)`` in a new greenlet after ``seconds``; the greenlet."""

    @abstractmethod
    def _throw(self, greenlet: Any, exc: BaseException) -> None:
        """Raise ``exc`` inside the started ``greenlet`` where it waits."""

    @abstractmethod
    def _cancel(self, greenlet: Any) -> None:
        """Make sure a greenlet from :meth:`_spawn_later` does not run (or is over)."""

    @abstractmethod
    def _join(self, greenlets: Sequence[Any], timeout: float | None) -> None:
        """Wait (letting other greenlets run) until ``greenlets`` are over, or ``timeout``."""

    # -- the pool ----------------------------------------------------------------------

    def start(self) -> None:
        """Check that the process is patched (jobs could not run side by side otherwise).

        Raises:
            ImproperlyConfigured: the standard library is not patched.
        """
        self._check_patched()

    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> int | None:
        """Start the job in a new greenlet; it runs as soon as the caller waits."""
        job = _Job(next(self._numbers), payload, on_done)
        self._jobs[job.number] = job
        job.greenlet = self._spawn(self._run, job, time_limit, soft_time_limit)
        return job.number

    def _run(self, job: _Job, hard: float | None, soft: float | None) -> None:
        value: Any = None
        error: BaseException | None = None
        if job.error is None:  # not terminated before it started
            job.started = True
            if soft:
                job.timers.append(self._spawn_later(soft, self._soft_limit, job, soft))
            if hard:
                job.timers.append(self._spawn_later(hard, self._end, job, TimeLimitExceeded(hard)))
            try:
                value = self.target(job.payload)
            except _Killed:
                pass
            except BaseException as exc:  # reported, not raised: the worker decides
                error = exc
            finally:
                job.finished = True
                for timer in job.timers:
                    self._cancel(timer)
        self._jobs.pop(job.number, None)
        if job.error is not None:  # killed: that is its end, whatever the task did after
            value, error = None, job.error
        if not job.silent:
            job.on_done(value, error)

    def _soft_limit(self, job: _Job, limit: float) -> None:
        if job.finished:
            return
        logger.warning("Soft time limit (%ss) exceeded for %s", limit, self._describe(job))
        exc = SoftTimeLimitExceeded(limit)
        exc.limit = limit
        self._throw(job.greenlet, exc)

    def _end(self, job: _Job, error: BaseException) -> None:
        """End ``job`` with ``error``: kill its greenlet, or keep it from starting."""
        if job.finished or job.error is not None:
            return
        job.error = error
        if job.started:
            self._throw(job.greenlet, _Killed())

    def terminate_job(self, job: int, signum: int) -> bool:
        """Kill job ``job``'s greenlet (``signum`` means nothing here); it ends REVOKED."""
        found = self._jobs.get(job)
        if found is None or found.finished:
            return False
        logger.info("Terminating %s", self._describe(found))
        self._end(found, TaskRevokedError("terminated"))
        return True

    def job_pid(self, job: int) -> int | None:
        """This process's pid while ``job`` is in the pool (jobs run in the worker)."""
        return os.getpid() if job in self._jobs else None

    def resize(self, size: int) -> None:
        """Allow ``size`` greenlets in flight from now on."""
        self.concurrency = max(0, size)

    def stop(self, *, wait: bool) -> None:
        """With ``wait``, let every job finish; else kill them and report nothing."""
        jobs = list(self._jobs.values())
        if not wait:
            for job in jobs:
                job.silent = True
                self._end(job, TaskRevokedError("cold shutdown"))
        self._join([job.greenlet for job in jobs], None if wait else COLD_STOP_GRACE)

    def _describe(self, job: _Job) -> str:
        describe = self.options.describe
        return describe(job.payload) if describe is not None else f"job {job.number}"
