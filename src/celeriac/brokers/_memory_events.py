"""Monitoring events on the memory broker: a bounded list in its named store."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any, final

from celeriac.brokers._topic import topic_matches
from celeriac.brokers.base import EventChannel

if TYPE_CHECKING:
    from celeriac.brokers._memory_store import Store

__all__ = ["MemoryEventChannel"]

_KEEP = 10_000


@final
class MemoryEventChannel(EventChannel):
    """The event channel of a :class:`~celeriac.brokers.memory.MemoryBroker` store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cursors: dict[str, int] = {}  # per routing key: events seen so far

    def publish(self, routing_key: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Append the event for the listeners (the oldest are dropped past 10,000)."""
        with self._store.condition:
            events = self._store.events
            events.append((routing_key, copy.deepcopy(event)))
            self._store.events_dropped += max(0, len(events) - _KEEP)
            del events[: max(0, len(events) - _KEEP)]
            self._store.notify()

    def receive(
        self, *, timeout: float, routing_key: str = "#"
    ) -> list[dict[str, Any] | list[dict[str, Any]]]:
        """Events appended since the last call; waits up to ``timeout`` for one."""
        deadline = time.monotonic() + timeout
        store = self._store
        with store.condition:
            total = store.events_dropped + len(store.events)
            cursor = self._cursors.setdefault(routing_key, total)
            while True:
                start = max(0, cursor - store.events_dropped)
                found = [
                    event
                    for key, event in store.events[start:]
                    if routing_key == "#" or topic_matches(routing_key, key)
                ]
                cursor = self._cursors[routing_key] = total
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return copy.deepcopy(found)
                store.condition.wait(remaining)
                total = store.events_dropped + len(store.events)
