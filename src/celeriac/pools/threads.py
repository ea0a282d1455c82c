"""The ``threads`` pool: a fixed set of threads fed from one queue."""

from __future__ import annotations

import queue
import threading
from typing import Any, final

from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["ThreadPool"]


@final
class ThreadPool(Pool):
    """Runs jobs on ``concurrency`` threads.

    Threads are plain daemon threads fed by a :class:`queue.SimpleQueue`, so a cold
    shutdown can leave them behind when the process exits.
    """

    name = "threads"

    def __init__(
        self, *, concurrency: int, target: Target, options: PoolOptions | None = None
    ) -> None:
        super().__init__(concurrency=concurrency, target=target, options=options)
        self._jobs: queue.SimpleQueue[tuple[Any, DoneCallback] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads."""
        for index in range(self.concurrency):
            thread = threading.Thread(
                target=self._run, name=f"celeriac-pool-{index + 1}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            self.run_here(*job)

    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> None:
        """Queue the job for the next free thread; time limits are not enforced."""
        self._jobs.put((payload, on_done))

    def stop(self, *, wait: bool) -> None:
        """Ask every thread to finish; with ``wait``, join them."""
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
        self._threads.clear()
