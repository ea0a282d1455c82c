"""The stores of the in-process broker: messages by queue, leases, and who waits.

A :class:`Store` is what :class:`~celeriac.brokers.memory.MemoryBroker` instances built
from the same name share (see :func:`store_named`): its entries, the leasing of ready
ones, and the waiters to wake on a publish. The broker's remote control and monitoring
events keep their state here too (``_memory_mailbox``, ``_memory_events``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, final

from celeriac.brokers._leases import lease_tag, log_lost_lease
from celeriac.brokers.base import Delivery
from celeriac.protocol import Message
from celeriac.serialization import json_loads

__all__ = ["Entry", "Store", "Waiter", "store_named"]

Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


@dataclass(slots=True, eq=False)
class Entry:
    id: int
    queue: str
    priority: int
    not_before: float
    body: bytes
    headers: str
    properties: str
    content_type: str
    content_encoding: str
    exchange: str
    routing_key: str
    redelivered: bool = False
    leased_until: float | None = None
    token: str | None = None

    def is_leased(self, now: float) -> bool:
        return self.leased_until is not None and self.leased_until >= now

    def is_ready(self, now: float) -> bool:
        return not self.is_leased(now) and self.not_before <= now

    def due(self) -> float:
        """When this entry becomes deliverable, if it is not now."""
        return self.leased_until if self.leased_until is not None else self.not_before

    def message(self) -> Message:
        return Message(
            self.body,
            json_loads(self.headers),
            json_loads(self.properties),
            self.content_type,
            self.content_encoding,
        )


@final
class Store:
    """The messages of one named store, and who is waiting for them."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.queues: dict[str, dict[int, Entry]] = {}
        self.ids = itertools.count(1)
        self.waiters: set[Waiter] = set()
        # Remote control (see _memory_mailbox): broadcast commands and replies by key.
        self.commands: list[tuple[float | None, dict[str, Any]]] = []
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.revoked: dict[str, float] = {}
        # Monitoring events (see _memory_events), the oldest dropped past a bound.
        self.events: list[Any] = []
        self.events_dropped = 0

    def notify(self) -> None:
        """Wake every waiter (caller holds ``condition``)."""
        self.condition.notify_all()
        for waiter in list(self.waiters):
            loop, event = waiter
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self.waiters.discard(waiter)

    def clear(self) -> None:
        with self.condition:
            self.queues.clear()
            self.commands.clear()
            self.replies.clear()
            self.revoked.clear()
            self.events.clear()

    def reserve(
        self, queues: Sequence[str], limit: int, visibility_timeout: float
    ) -> tuple[list[Delivery], float | None]:
        """Lease up to ``limit`` ready messages of ``queues`` (caller holds ``condition``).

        Returns the deliveries, or none and when the next message becomes due.
        """
        now = time.time()
        ready: list[Entry] = []
        due: list[float] = []
        for queue in dict.fromkeys(queues):
            for entry in self.queues.get(queue, {}).values():
                if entry.is_ready(now):
                    ready.append(entry)
                else:
                    due.append(entry.due())
        chosen = heapq.nsmallest(limit, ready, key=lambda e: (-e.priority, e.id))
        if not chosen:
            return [], min(due, default=None)
        token = uuid.uuid4().hex
        deliveries = []
        for entry in chosen:
            entry.redelivered = entry.redelivered or entry.leased_until is not None
            entry.leased_until = now + visibility_timeout
            entry.token = token
            deliveries.append(
                Delivery(
                    message=entry.message(),
                    queue=entry.queue,
                    tag=(entry.id, token),
                    exchange=entry.exchange,
                    routing_key=entry.routing_key,
                    redelivered=entry.redelivered,
                )
            )
        return deliveries, None

    def leased_entry(self, delivery: Delivery, action: str) -> Entry | None:
        """The entry ``delivery`` still leases, else ``None`` after a warning (caller holds it)."""
        row_id, token = lease_tag(delivery)
        entry = self.queues.get(delivery.queue, {}).get(row_id)
        if entry is not None and entry.token == token:
            return entry
        log_lost_lease(action, delivery)
        return None


_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def store_named(name: str) -> Store:
    """The store of that name, made on first use; it lives as long as the process."""
    with _STORES_LOCK:
        store = _STORES.get(name)
        if store is None:
            store = _STORES[name] = Store()
        return store
