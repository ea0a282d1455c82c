"""A real worker in a thread, for tests: Celery's ``celery.contrib.testing.worker``.

:func:`start_worker` has Celery's signature and runs celeriac's in-thread worker
(:func:`celeriac.testing.worker.start_worker`): the same consumer, pool and execution
path as ``celeriac worker``. While it runs, the app is the current app (so
``@shared_task`` tasks called from the test go through it); the previous current app
comes back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celeriac.contrib.testing.app import preserve_current_app
from celeriac.testing.worker import start_worker as start_thread_worker

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.worker.worker import Worker

__all__ = ["start_worker"]

#: Celery worker options with no counterpart in celeriac's in-thread worker, accepted
#: so that ``celery_worker_parameters`` written for Celery keep working.
CELERY_ONLY_OPTIONS = frozenset(
    {"without_heartbeat", "without_mingle", "without_gossip", "ready_callback", "optimization"}
)
_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(threadName)s] %(name)s: %(message)s"


@contextmanager
def start_worker(
    app: Celery,
    concurrency: int = 1,
    pool: str = "solo",
    loglevel: str | int | None = None,
    logfile: str | None = None,
    perform_ping_check: bool = True,
    ping_task_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    **kwargs: Any,
) -> Iterator[Worker]:
    """Run a worker for ``app`` in a thread until the block ends.

    Args:
        app: The app whose tasks the worker runs.
        concurrency: Pool size.
        pool: Pool name (``solo``, as in Celery, runs tasks in the worker's thread).
        loglevel: When given, the worker's log records at this level and above are
            written to ``logfile`` (stderr when not given) while it runs. celeriac
            installs no logging otherwise; pytest shows the records of a failed test.
        logfile: Where ``loglevel`` sends the records.
        perform_ping_check: Run the ``celery.ping`` task once the worker is up and wait
            for its result (skipped when the app has no result backend).
        ping_task_timeout: Seconds to wait for the ping's result.
        shutdown_timeout: Seconds to wait for the worker to stop.
        **kwargs: :class:`~celeriac.worker.worker.Worker` arguments (``queues``,
            ``exclude_queues``, ``hostname`` ...; a queue list may be one
            comma-separated string, as in Celery); Celery-only ones such as
            ``without_heartbeat`` are accepted and ignored.

    Yields:
        The running worker.

    Raises:
        RuntimeError: the worker did not start or stop in time, or the ping failed.
    """
    options = {key: value for key, value in kwargs.items() if key not in CELERY_ONLY_OPTIONS}
    for key in ("queues", "exclude_queues"):
        if isinstance(options.get(key), str):  # Celery splits "a,b" (its docs pass "celery")
            options[key] = options[key].split(",")
    ping = _ping_task(app) if perform_ping_check and app.conf.result_backend else None
    with preserve_current_app(), _worker_logging(loglevel, logfile):
        app.set_current()
        with start_thread_worker(
            app, pool=pool, concurrency=concurrency, shutdown_timeout=shutdown_timeout, **options
        ) as worker:
            if ping is not None:
                reply = ping.apply_async(queue=worker.queues[0].name).get(timeout=ping_task_timeout)
                if reply != "pong":
                    raise RuntimeError(f"test worker answered the ping with {reply!r}")
            yield worker


def _ping_task(app: Celery) -> Task[[], str]:
    """Celery's ``celery.ping`` task, registered on ``app`` only (not shared)."""
    if "celery.ping" not in app.tasks:

        @app.task(name="celery.ping", shared=False)
        def ping() -> str:
            return "pong"

    task: Task[[], str] = app.tasks["celery.ping"]
    return task


@contextmanager
def _worker_logging(loglevel: str | int | None, logfile: str | None) -> Iterator[None]:
    """Send ``celeriac`` log records at ``loglevel`` and above to a handler, for the block."""
    if loglevel is None:
        yield
        return
    level = logging.getLevelName(loglevel.upper()) if isinstance(loglevel, str) else loglevel
    handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logger = logging.getLogger("celeriac")
    previous_level = logger.level
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)  # lower only: never hide records from pytest's capture
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        handler.close()
