"""Sending events: worker and client sides.

Worker events (``worker-*``) go out at once; task events are buffered and sent as one
list under the routing key ``task.multi`` (as Celery's workers do) when ``flush`` is
called or the buffer is full, so a busy worker sends a handful of messages per second.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from typing import Any

from celeriac import __version__
from celeriac.brokers.base import EventChannel
from celeriac.events.event import Event, group_from, routing_key_for, utcoffset
from celeriac.exceptions import CeleriacError

__all__ = ["EventDispatcher"]

logger = logging.getLogger(__name__)


class EventDispatcher:
    """Sends events from one node.

    Args:
        channel: Where events go (``broker.event_channel()``).
        hostname: The sender's node name.
        enabled: Whether task events are sent (``-E``); worker events follow ``groups``.
        groups: Event groups sent; ``None`` means all (``worker``, ``task``).
        buffer_limit: Task events buffered before a flush is forced.
    """

    def __init__(
        self,
        channel: EventChannel,
        *,
        hostname: str,
        enabled: bool = True,
        groups: set[str] | None = None,
        buffer_limit: int = 100,
    ) -> None:
        self.channel = channel
        self.hostname = hostname
        self.enabled = enabled
        self.groups = groups
        self.buffer_limit = buffer_limit
        self.clock = 0
        self.pid = os.getpid()
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._utcoffset = utcoffset()

    def enable(self) -> None:
        """Start sending task events."""
        self.enabled = True

    def disable(self) -> None:
        """Stop sending task events (buffered ones are flushed)."""
        self.flush()
        self.enabled = False

    def _make(self, event_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        self.clock += 1
        return Event(
            event_type,
            hostname=self.hostname,
            utcoffset=utcoffset(),
            pid=self.pid,
            clock=self.clock,
            **fields,
        )

    def send(self, event_type: str, **fields: Any) -> None:
        """Send one event now (task events too, unbuffered)."""
        group = group_from(event_type)
        if group == "task" and not self.enabled:
            return
        if self.groups is not None and group not in self.groups:
            return
        with self._lock:
            event = self._make(event_type, fields)
        self._publish(routing_key_for(event_type), event)

    def send_task_event(self, event_type: str, **fields: Any) -> None:
        """Buffer a task event; it goes out with the next flush."""
        self.buffer_task_event(event_type, fields)

    def buffer_task_event(self, event_type: str, event: dict[str, Any]) -> None:
        """Buffer a task event given as a dict of its own fields, which becomes the event.

        The worker's hot path: the common fields are added to ``event`` in place.
        """
        if not self.enabled or (self.groups is not None and "task" not in self.groups):
            return
        with self._lock:
            self.clock += 1
            event["hostname"] = self.hostname
            event["utcoffset"] = self._utcoffset
            event["pid"] = self.pid
            event["clock"] = self.clock
            event["timestamp"] = time.time()
            event["type"] = event_type
            self._buffer.append(event)
            full = len(self._buffer) >= self.buffer_limit
        if full:
            self.flush()

    def flush(self) -> None:
        """Send the buffered task events as one ``task.multi`` list."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            # Read once per flush, not per event: a daylight-saving change shows one
            # flush late.
            self._utcoffset = utcoffset()
        if batch:
            self._publish("task.multi", batch)

    def _publish(self, routing_key: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        try:
            self.channel.publish(routing_key, event)
        except CeleriacError as exc:
            logger.warning("Could not send events: %s", exc)

    def worker_fields(self, *, freq: float, active: int, processed: int) -> dict[str, Any]:
        """The fields of ``worker-online``/``heartbeat``/``offline`` events."""
        try:
            loadavg = [round(x, 2) for x in os.getloadavg()]
        except OSError:
            loadavg = [0.0, 0.0, 0.0]
        return {
            "freq": freq,
            "active": active,
            "processed": processed,
            "loadavg": loadavg,
            "sw_ident": "py-celery",
            "sw_ver": __version__,
            "sw_sys": platform.system(),
        }

    def close(self) -> None:
        """Flush and release the channel."""
        self.flush()
        self.channel.close()
