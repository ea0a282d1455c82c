"""A real worker running in a thread of the test process.

``start_worker(app)`` runs the same consumer, pool and execution path as
``celeriac worker``, on its own event loop in a background thread, so tests exercise
the real message path (typically over ``memory://`` or a temporary SQLite file) without
starting a process. Celery's ``celery.contrib.testing.worker.start_worker`` has the same
shape.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celeriac.worker.worker import Worker

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["start_worker"]


@contextmanager
def start_worker(
    app: Celery,
    *,
    pool: str = "threads",
    concurrency: int = 1,
    queues: Sequence[str] = (),
    hostname: str | None = None,
    prefetch_multiplier: int | None = None,
    ready_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    **worker_options: Any,
) -> Iterator[Worker]:
    """Run a worker for ``app`` in a thread until the block ends (warm shutdown).

    ``worker_options`` are further :class:`~celeriac.worker.worker.Worker` arguments
    (``exclude_queues``, ``time_limit`` ...).

    Raises:
        RuntimeError: the worker did not become ready, or did not stop, in time.
    """
    worker = Worker(
        app,
        pool=pool,
        concurrency=concurrency,
        queues=queues,
        hostname=hostname or "celery@test-worker",
        prefetch_multiplier=prefetch_multiplier,
        **worker_options,
    )
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(worker.run(on_started=ready.set))
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)
            ready.set()
        finally:
            _close(loop)

    thread = threading.Thread(target=run, name="celeriac-test-worker", daemon=True)
    thread.start()
    if not ready.wait(ready_timeout) or failure:
        raise RuntimeError("test worker did not start") from (failure[0] if failure else None)
    try:
        yield worker
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(worker.request_stop)
        thread.join(shutdown_timeout)
        if thread.is_alive():
            raise RuntimeError("test worker did not stop in time")
        if failure:
            raise failure[0]


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` as ``asyncio.run`` does, without waiting for its executor's threads.

    What is still pending (a fetch's thread that outlives the stop) is cancelled first,
    so no task is destroyed pending.
    """
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
