"""The ``threads`` pool: a fixed set of threads fed from one queue."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, final

from celeriac.pools.base import DoneCallback, Pool

__all__ = ["ThreadPool"]

_Job = tuple[Callable[..., Any], tuple[Any, ...], DoneCallback]


@final
class ThreadPool(Pool):
    """Runs jobs on ``concurrency`` threads.

    Threads are plain daemon threads fed by a :class:`queue.SimpleQueue`, so a cold
    shutdown can leave them behind when the process exits.
    """

    name = "threads"

    def __init__(self, *, concurrency: int) -> None:
        super().__init__(concurrency=concurrency)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
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
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, on_done = job
            try:
                value = fn(*args)
            except BaseException as exc:  # reported to the worker, which logs it
                on_done(None, exc)
            else:
                on_done(value, None)

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], on_done: DoneCallback) -> None:
        """Queue ``fn(*args)`` for the next free thread."""
        self._jobs.put((fn, args, on_done))

    def stop(self, *, wait: bool) -> None:
        """Ask every thread to finish; with ``wait``, join them."""
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
        self._threads.clear()
