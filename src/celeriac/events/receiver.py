"""Receiving events: ``EventReceiver(app, handlers={...}).capture()``, as in Celery."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from celeriac.events.event import adjust_timestamp

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.brokers.base import EventChannel

__all__ = ["EventReceiver"]

Handler = Callable[[dict[str, Any]], None]


class EventReceiver:
    """Calls a handler per event type (``"*"`` catches the rest).

    Args:
        app: The app whose broker carries the events.
        handlers: Event type to handler; ``"*"`` for any type without its own.
        channel: An event channel to read (the app broker's own when ``None``).
        routing_key: Which events, as a topic pattern on their routing keys
            (``worker.#`` for the workers' own events; ``#``, the default, for all).
    """

    def __init__(
        self,
        app: Celery,
        handlers: dict[str, Handler] | None = None,
        *,
        channel: EventChannel | None = None,
        routing_key: str = "#",
        **_: Any,
    ) -> None:
        self.app = app
        self.routing_key = routing_key
        self.handlers = dict(handlers or {})
        self.channel = channel or app.broker.event_channel()
        self.should_stop = False
        self.clock = 0

    def _normalize(self, event: dict[str, Any]) -> dict[str, Any]:
        event["local_received"] = time.time()
        offset = event.get("utcoffset")
        if isinstance(event.get("timestamp"), int | float) and isinstance(offset, int | float):
            event["timestamp"] = adjust_timestamp(float(event["timestamp"]), float(offset))
        clock = event.get("clock")
        if event.get("type") == "task-sent" or not isinstance(clock, int):
            self.clock += 1
            event["clock"] = self.clock
        else:
            self.clock = max(self.clock, clock) + 1
        return event

    def events(self, timeout: float = 1.0) -> Iterator[dict[str, Any]]:
        """Events received in the next ``timeout`` seconds (batches unpacked)."""
        for item in self.channel.receive(timeout=timeout, routing_key=self.routing_key):
            for event in item if isinstance(item, list) else [item]:
                if isinstance(event, dict) and "type" in event:
                    yield self._normalize(event)

    def process(self, event: dict[str, Any]) -> None:
        """Call the handler for ``event``."""
        handler = self.handlers.get(str(event["type"])) or self.handlers.get("*")
        if handler is not None:
            handler(event)

    def capture(
        self, limit: int | None = None, timeout: float | None = None, wakeup: bool = True
    ) -> None:
        """Handle events until ``limit`` of them, ``timeout`` seconds, or ``should_stop``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        handled = 0
        while not self.should_stop:
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return
            for event in self.events(timeout=min(remaining, 1.0)):
                self.process(event)
                handled += 1
                if limit is not None and handled >= limit:
                    return

    def close(self) -> None:
        """Release the channel."""
        self.channel.close()
