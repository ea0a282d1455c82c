"""What runs beside the consumer: remote control, heartbeats and event flushing.

Each is an asyncio task on the worker's loop. A broker without a mailbox or event
channel simply has no remote control or events; the worker still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from celeriac.events.dispatcher import EventDispatcher
from celeriac.exceptions import CeleriacError, ImproperlyConfigured
from celeriac.worker.control import ControlLoop

if TYPE_CHECKING:
    from celeriac.brokers.base import Mailbox
    from celeriac.worker.worker import Worker

__all__ = ["NodeServices"]

logger = logging.getLogger(__name__)

#: Seconds between flushes of buffered task events.
EVENT_FLUSH_INTERVAL = 0.1


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
        self.events = EventDispatcher(
            channel, hostname=self.worker.hostname, enabled=self.task_events
        )

    def start(self) -> None:
        """Start the background tasks and announce the worker (``worker-online``)."""
        if self.mailbox is not None:
            self._tasks.append(asyncio.ensure_future(ControlLoop(self.worker, self.mailbox).run()))
        if self.events is not None:
            self.send_worker_event("worker-online")
            self._tasks.append(asyncio.ensure_future(self._flush_events()))
            if self.heartbeat_interval:
                self._tasks.append(asyncio.ensure_future(self._heartbeats()))

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
            self.send_worker_event("worker-heartbeat")

    async def _flush_events(self) -> None:
        assert self.events is not None
        while True:
            await asyncio.sleep(EVENT_FLUSH_INTERVAL)
            self.events.flush()
