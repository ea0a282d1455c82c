"""What runs beside the consumer: remote control, heartbeats, event flushing, mingle.

Each is an asyncio task on the worker's loop. A broker without a mailbox or event
channel simply has no remote control or events; the worker still runs.

Mingle (at start-up, unless ``--without-mingle``): broadcast ``hello`` with our revoked
ids, wait one second for the other workers' replies (their revoked ids and clocks) and
merge them, as Celery's workers do. celeriac's own revokes are also kept broker-side, so
this mostly matters next to Celery workers, whose revokes live only in their memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.events.dispatcher import EventDispatcher
from celeriac.exceptions import CeleriacError, ImproperlyConfigured
from celeriac.worker.control import ControlLoop

if TYPE_CHECKING:
    from celeriac.brokers.base import Mailbox
    from celeriac.worker.worker import Worker

__all__ = ["NodeServices", "init_pool_process", "install_stop_handlers", "shut_pool_process"]

logger = logging.getLogger(__name__)

#: Seconds between flushes of buffered task events.
EVENT_FLUSH_INTERVAL = 0.1
#: Seconds mingle waits for the other workers' replies (Celery's).
MINGLE_TIMEOUT = 1.0


def init_pool_process(
    process_init: Callable[[int], None] | None, hostname: str, index: int
) -> None:
    """Run in each new pool child: the command line's set-up, then ``worker_process_init``."""
    if process_init is not None:
        process_init(index)
    signals.worker_process_init.send(sender=hostname)


def shut_pool_process(hostname: str, exitcode: int) -> None:
    """Run in a pool child about to exit: ``worker_process_shutdown``."""
    signals.worker_process_shutdown.send(sender=hostname, pid=os.getpid(), exitcode=exitcode)


def install_stop_handlers(worker: Worker) -> None:
    """SIGTERM and SIGINT stop warm (a second one cold), SIGQUIT cold, as in Celery.

    Each also sends ``worker_shutting_down``. Only the main thread can have handlers:
    a worker embedded in another program (or a test's thread) is stopped by calling
    ``request_stop``, and that program handles signals.
    """
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        try:
            loop.add_signal_handler(signum, _on_stop_signal, worker, signum.name)
        except (RuntimeError, ValueError):
            # Not the main thread. Asked, not checked with threading: eventlet's patched
            # threading does not recognise the main thread.
            return


def _on_stop_signal(worker: Worker, name: str) -> None:
    worker.request_stop(cold=name == "SIGQUIT")
    signals.worker_shutting_down.send(
        sender=worker.hostname,
        sig=name,
        how="Cold" if worker.is_cold else "Warm",
        exitcode=0 if name == "SIGTERM" else 1,  # Celery's EX_OK / EX_FAILURE
    )


class NodeServices:
    """Remote control, events and heartbeats of one worker.

    Args:
        worker: The worker they serve.
        task_events: Send task events (``-E``).
        heartbeat_interval: Seconds between ``worker-heartbeat`` events; ``None`` for none.
        remote_control: Answer ``inspect``/``control`` commands.
    """

    def __init__(
        self,
        worker: Worker,
        *,
        task_events: bool,
        heartbeat_interval: float | None,
        remote_control: bool,
    ) -> None:
        self.worker = worker
        self.task_events = task_events
        self.heartbeat_interval = heartbeat_interval
        self.remote_control = remote_control
        self.mailbox: Mailbox | None = None
        self.events: EventDispatcher | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def open(self) -> None:
        """Open the mailbox and the event channel, and load durable revokes."""
        broker = self.worker.app.broker
        if self.remote_control:
            try:
                self.mailbox = broker.mailbox()
                self.worker.revoked.update(self.mailbox.load_revoked())
            except ImproperlyConfigured as exc:
                logger.info("Remote control is off: %s", exc)
                self.mailbox = None
        try:
            channel = broker.event_channel()
        except ImproperlyConfigured as exc:
            logger.info("Events are off: %s", exc)
            return
        # A batch of 500 events (about 170 tasks' worth) under load, otherwise what
        # EVENT_FLUSH_INTERVAL gathers: each publish blocks the loop for a round trip.
        self.events = EventDispatcher(
            channel, hostname=self.worker.hostname, enabled=self.task_events, buffer_limit=500
        )

    async def start(self) -> None:
        """Start the background tasks and announce the worker (``worker-online``).

        Commands sent once this returns reach the worker (it listens before it says
        it is ready).
        """
        if self.mailbox is not None:
            loop = ControlLoop(self.worker, self.mailbox)
            await loop.listen()
            self._tasks.append(asyncio.ensure_future(loop.run()))
        if self.events is not None:
            if self.heartbeat_interval and signals.heartbeat_sent.has_receivers:
                signals.heartbeat_sent.send(sender=self)  # Celery's heart: with worker-online too
            self.send_worker_event("worker-online")
            self._tasks.append(asyncio.ensure_future(self._flush_events()))
            if self.heartbeat_interval:
                self._tasks.append(asyncio.ensure_future(self._heartbeats()))

    def watch(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` beside the consumer until the worker stops."""
        self._tasks.append(asyncio.ensure_future(coro))

    async def mingle(self) -> None:
        """Sync revoked ids and the clock with the other workers (Celery's mingle)."""
        if self.mailbox is None:
            return
        worker = self.worker
        logger.info("mingle: searching for neighbors")
        arguments = {"from_node": worker.hostname, "revoked": list(worker.revoked)}
        try:
            replies = await asyncio.to_thread(
                worker.app.control.broadcast,
                "hello",
                arguments=arguments,
                reply=True,
                timeout=MINGLE_TIMEOUT,
            )
        except CeleriacError as exc:
            logger.warning("mingle: cannot reach the other workers: %s", exc)
            return
        nodes = {
            node: reply
            for item in replies or ()
            for node, reply in item.items()
            if node != worker.hostname and isinstance(reply, dict)
        }
        if not nodes:
            logger.info("mingle: all alone")
            return
        logger.info("mingle: sync with %s nodes", len(nodes))
        for reply in nodes.values():
            worker.merge_revoked(reply.get("revoked"))
            clock = reply.get("clock")
            if isinstance(clock, int):
                worker.adjust_clock(clock)
        logger.info("mingle: sync complete")

    async def stop(self) -> None:
        """Stop the background tasks, say goodbye (``worker-offline``), close."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, CeleriacError):
                await task
        self._tasks.clear()
        if self.events is not None:
            self.send_worker_event("worker-offline")
            self.events.close()
        if self.mailbox is not None:
            self.mailbox.close()

    def send_worker_event(self, event_type: str, **extra: Any) -> None:
        """Send ``worker-online``/``heartbeat``/``offline`` with the worker's counters."""
        if self.events is None:
            return
        consumer = self.worker.consumer
        fields = self.events.worker_fields(
            freq=self.heartbeat_interval or 2.0,
            active=len(consumer.active) if consumer is not None else 0,
            processed=consumer.processed if consumer is not None else 0,
        )
        self.events.send(event_type, **{**fields, **extra})

    async def _heartbeats(self) -> None:
        assert self.heartbeat_interval
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if signals.heartbeat_sent.has_receivers:
                signals.heartbeat_sent.send(sender=self)
            self.send_worker_event("worker-heartbeat")

    async def _flush_events(self) -> None:
        assert self.events is not None
        while True:
            await asyncio.sleep(EVENT_FLUSH_INTERVAL)
            self.events.flush()
