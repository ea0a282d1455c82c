"""The ``threads`` pool: a set of threads fed from one queue; it can grow and shrink.

``terminate_job`` stops a running job by raising :class:`JobTerminated` in its thread
(``PyThreadState_SetAsyncExc``). Python delivers such an exception only between
bytecodes of that thread: a job blocked in one long call into C (``time.sleep(60)``, a
socket read without timeout, a lock wait) stops only when that call returns, and code
that catches ``BaseException`` can swallow it. It can also land just after the task's
body, in the worker's own code that stores the result, and leave that half done. The
signal number means nothing here. Prefer the prefork pool for tasks that may need it.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import queue
import threading
from typing import Any, final

from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["JobTerminated", "ThreadPool"]

_Job = tuple[int, Any, DoneCallback]


class JobTerminated(BaseException):
    """Raised inside a thread's running job by :meth:`ThreadPool.terminate_job`.

    A ``BaseException``, so a task's ``except Exception`` does not swallow it.
    """


def _set_async_exc(ident: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in thread ``ident`` at its next bytecode (``None`` clears it)."""
    target = ctypes.py_object(exc_type) if exc_type is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), target)


@final
class ThreadPool(Pool):
    """Runs jobs on ``concurrency`` threads (more or fewer after :meth:`resize`).

    Threads are plain daemon threads fed by a :class:`queue.SimpleQueue`, so a cold
    shutdown can leave them behind when the process exits.
    """

    name = "threads"

    def __init__(
        self, *, concurrency: int, target: Target, options: PoolOptions | None = None
    ) -> None:
        super().__init__(concurrency=concurrency, target=target, options=options)
        self._size = concurrency
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}  # job number -> thread ident
        self._terminated: set[int] = set()
        self._started = False

    @property
    def limit(self) -> int:
        """The current number of threads."""
        return self._size

    def start(self) -> None:
        """Start the threads."""
        self._started = True
        self._add_threads(self._size)

    def _add_threads(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(
                target=self._run, name=f"celeriac-pool-{len(self._threads) + 1}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        ident = threading.get_ident()
        while (job := self._jobs.get()) is not None:
            number, payload, on_done = job
            value, error = None, None
            try:
                with self._lock:
                    self._running[number] = ident
                try:
                    value = self.target(payload)
                finally:
                    self._leave(number, ident)
            except BaseException as exc:  # reported, not raised: the worker decides
                error = exc
            self._leave(number, ident)  # again: a terminate may have cut the first one short
            on_done(value, error)
        with self._lock:
            self._threads = [t for t in self._threads if t.ident != ident]

    def _leave(self, number: int, ident: int) -> None:
        with self._lock:
            self._running.pop(number, None)
            if number in self._terminated:
                self._terminated.discard(number)
                _set_async_exc(ident, None)  # one that came too late must not hit the next job

    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> int | None:
        """Queue the job for the next free thread; time limits are not enforced."""
        number = next(self._numbers)
        self._jobs.put((number, payload, on_done))
        return number

    def resize(self, size: int) -> None:
        """Run ``size`` threads from now on; surplus threads leave after their job."""
        size = max(0, size)
        with self._lock:
            change, self._size = size - self._size, size
        if not self._started:
            return
        if change > 0:
            self._add_threads(change)
        for _ in range(-change):
            self._jobs.put(None)

    def terminate_job(self, job: int, signum: int) -> bool:
        """Raise :class:`JobTerminated` in the thread running ``job`` (see the module doc)."""
        with self._lock:
            ident = self._running.get(job)
            if ident is None or job in self._terminated:
                return ident is not None
            self._terminated.add(job)
            _set_async_exc(ident, JobTerminated)
        return True

    def job_pid(self, job: int) -> int | None:
        """This process's pid while ``job`` runs."""
        with self._lock:
            return os.getpid() if job in self._running else None

    def stop(self, *, wait: bool) -> None:
        """Ask every thread to finish; with ``wait``, join them."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()
        with self._lock:
            self._threads.clear()
