"""The pool contract: run jobs somewhere and report back.

A pool is built with its ``target``, the function every job runs, and is then handed
*payloads*: ``submit(payload, on_done)`` runs ``target(payload)``. Only payloads and
return values cross into the place jobs run, so a process pool can fork after the
target exists (the child inherits it) and pickle nothing but payloads and outcomes.

The worker hands a pool at most ``limit`` jobs at a time (it counts them itself) and is
told about each one through ``on_done``, which a pool may call from any thread. A job
that raises reports the exception instead of a value.

Optional parts, which a pool may ignore when it cannot honour them (``is_supervising``
says whether it does):

- per-job time limits, the ``time_limit`` / ``soft_time_limit`` keywords of
  :meth:`Pool.submit`: the soft limit raises ``SoftTimeLimitExceeded`` inside the job,
  the hard limit ends the job and reports ``TimeLimitExceeded``;
- :class:`PoolOptions`: when to replace a child (after so many jobs, or once it uses so
  much memory), and the floor for :meth:`Pool.resize` (autoscaling);
- a job whose process died reports ``WorkerLostError``;
- :meth:`Pool.terminate_job` stops one running job (``revoke --terminate``), by the
  number :meth:`Pool.submit` returned; :meth:`Pool.job_pid` says where a job runs;
- :meth:`Pool.resize` (``pool_grow``/``pool_shrink``, autoscaling) and
  :meth:`Pool.restart` (``pool_restart``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DoneCallback", "Pool", "PoolOptions", "Target"]

#: Called once per job with ``(value, None)`` or ``(None, exception)``.
DoneCallback = Callable[[Any, BaseException | None], None]
#: What every job runs: ``target(payload) -> value``.
Target = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Child-process policies; pools without child processes ignore them.

    Attributes:
        max_tasks_per_child: Replace a child after it ran this many jobs.
        max_memory_per_child: Replace a child after the job that took its resident
            memory over this many KiB.
        describe: Names a job's payload in log lines (``proj.add[<id>]``); the pool
            knows payloads, not what they mean.
        initializer: Called in each new child process with its index (1, 2, ...),
            before it runs any job (per-process log files, ``worker_process_init``).
        finalizer: Called in a child process about to exit (it ran out of work, or is
            retiring), with its exit code (``worker_process_shutdown``). A child that
            is killed calls nothing.
    """

    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None
    describe: Callable[[Any], str] | None = None
    initializer: Callable[[int], None] | None = None
    finalizer: Callable[[int], None] | None = None


class Pool(ABC):
    """Base class of every pool.

    Args:
        concurrency: How many jobs may run at once.
        target: The function each job runs with its payload.
        options: Child-process policies (see :class:`PoolOptions`).
    """

    #: The name shown in the banner, e.g. ``threads``.
    name: str = ""
    #: Whether jobs run in the caller's thread (the worker then acks before submitting).
    is_inline: bool = False
    #: Whether the pool enforces time limits and reports lost jobs (prefork does).
    is_supervising: bool = False
    #: Whether the target returns an awaitable (the worker then gives it the async run path).
    is_async: bool = False

    def __init__(
        self, *, concurrency: int, target: Target, options: PoolOptions | None = None
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.concurrency = concurrency
        self.target = target
        self.options = options or PoolOptions()

    @property
    def limit(self) -> int:
        """How many jobs the worker may hand over at once."""
        return self.concurrency

    def start(self) -> None:
        """Create threads or processes."""

    @abstractmethod
    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> int | None:
        """Run ``target(payload)`` and report its outcome to ``on_done``.

        ``time_limit`` and ``soft_time_limit`` are seconds; pools that are not
        supervising ignore them. Returns a number that names the job for
        :meth:`terminate_job` and :meth:`job_pid`, or ``None`` if the pool has no way
        to stop a job once it runs.
        """

    @abstractmethod
    def stop(self, *, wait: bool) -> None:
        """Stop; with ``wait`` let running jobs finish first."""

    async def wait_stopped(self) -> None:
        """After :meth:`stop`, on the worker's event loop: wait until what it ended unwound.

        Only a pool whose jobs are tasks on that loop has anything to wait for; the
        worker calls this before the loop closes, so no job is left pending on it.
        """

    def resize(self, size: int) -> None:
        """Run ``size`` jobs at once from now on (autoscaling); fixed-size pools refuse.

        Raises:
            NotImplementedError: this pool cannot change its size.
        """
        raise NotImplementedError(f"the {self.name} pool cannot be resized")

    def terminate_job(self, job: int, signum: int) -> bool:
        """Stop the running job numbered ``job`` (``signum`` for a process); whether found.

        The job then reports an error through its ``on_done``, as a lost job does.
        """
        return False

    def job_pid(self, job: int) -> int | None:
        """The pid of the process running job ``job`` (``None``: not running, unknown)."""
        return None

    def restart(self, prepare: Callable[[], None] | None = None) -> None:
        """Replace the processes that run jobs (``pool_restart``), after ``prepare``.

        ``prepare`` runs where new processes come from, so what it imports or reloads
        is what they run. Pools whose jobs run in the worker's own process have nothing
        to replace (the worker runs ``prepare`` there itself).
        """

    def run_here(self, payload: Any, on_done: DoneCallback) -> None:
        """Run one job in the calling thread and report it (shared by pool kinds)."""
        try:
            value = self.target(payload)
        except BaseException as exc:  # reported, not raised: the worker decides
            on_done(None, exc)
        else:
            on_done(value, None)

    def info(self) -> dict[str, Any]:
        """What ``inspect stats`` shows under ``pool``."""
        return {"implementation": type(self).__module__, "max-concurrency": self.concurrency}
