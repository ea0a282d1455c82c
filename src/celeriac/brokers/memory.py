"""An in-process broker for tests: ``memory://`` or ``memory://name``.

It behaves like the SQLite broker (priority 0..255 highest first, then FIFO; eta; leases
with ``visibility_timeout``; ``redelivered``; ``peek``, ``purge``, ``size``), but keeps
messages in a dict. Headers and properties go through the same JSON encoding as on a
real broker, so what a consumer receives is a copy, never the producer's objects.

Sharing:
    Brokers built in one process from the same name share one store, like kombu's
    ``memory://`` transport: ``memory://`` is the store named ``""``, ``memory://tests``
    the store named ``tests``. The stores live in a module-level dict for the life of
    the process; :meth:`MemoryBroker.reset` empties one (use a fresh name per test, or
    reset between tests).

Threads and asyncio:
    A ``threading.Condition`` guards each store. ``get`` waits on it; ``afetch`` waits on
    an ``asyncio.Event`` that ``publish`` sets through ``loop.call_soon_threadsafe``, so
    no thread is tied up per waiting call.

Each ``get`` scans the queues it reads (O(n)); it is meant for tests, not backlogs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, final
from urllib.parse import urlsplit

from celeriac._internal.transport_options import float_option
from celeriac.brokers._leases import clamp_priority, encode_json
from celeriac.brokers._memory_store import Entry, Waiter, store_named
from celeriac.brokers.base import (
    DEAD_LETTER_QUEUE,
    Broker,
    Delivery,
    EventChannel,
    Mailbox,
    dead_letter_copy,
)
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol import Message

__all__ = ["MemoryBroker"]


@final
class MemoryBroker(Broker):
    """A broker keeping messages in this process's memory.

    Args:
        name: The store to use; brokers with the same name share messages.
        url: The URL it was built from, for display.
        visibility_timeout: Seconds a lease lasts without renewal.

    """

    def __init__(
        self, *, name: str = "", url: str = "", visibility_timeout: float = 3600.0
    ) -> None:
        self.name = name
        self.url = url or f"memory://{name}"
        self.visibility_timeout = visibility_timeout
        self._store = store_named(name)

    @classmethod
    def from_url(
        cls, url: str, *, transport_options: Mapping[str, Any] | None = None
    ) -> MemoryBroker:
        """Build a broker from ``memory://`` or ``memory://name``.

        Raises:
            ImproperlyConfigured: the URL is not a ``memory://`` URL.

        """
        parts = urlsplit(url)
        if parts.scheme != "memory":
            raise ImproperlyConfigured(f"broker URL {url!r} is not a memory:// URL")
        options = transport_options or {}
        return cls(
            name=(parts.netloc + parts.path).strip("/"),
            url=url,
            visibility_timeout=float_option(options, "visibility_timeout", 3600.0),
        )

    @classmethod
    def reset(cls, name: str = "") -> None:
        """Delete every message of the store ``name`` (for tests)."""
        store_named(name).clear()

    def event_channel(self) -> EventChannel:
        """Monitoring events within this process, through the same named store."""
        from celeriac.brokers._memory_events import MemoryEventChannel

        return MemoryEventChannel(self._store)

    def mailbox(self) -> Mailbox:
        """Remote control within this process, through the same named store."""
        from celeriac.brokers._memory_mailbox import MemoryMailbox

        return MemoryMailbox(self._store)

    def __repr__(self) -> str:
        return f"<MemoryBroker {self.name!r}>"

    # -- blocking face -------------------------------------------------------------

    def publish(
        self,
        message: Message,
        *,
        exchange: str = "",
        routing_key: str,
        eta: float | None = None,
    ) -> None:
        """Append ``message`` to the queue ``routing_key``; ``exchange`` is only recorded."""
        now = time.time()
        headers = encode_json(message.headers, "headers")
        properties = encode_json(message.properties, "properties")
        store = self._store
        with store.condition:
            entry = Entry(
                id=next(store.ids),
                queue=routing_key,
                priority=clamp_priority(message.priority),
                not_before=now if eta is None else eta,
                body=bytes(message.body),
                headers=headers,
                properties=properties,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                exchange=exchange,
                routing_key=routing_key,
            )
            store.queues.setdefault(routing_key, {})[entry.id] = entry
            store.notify()

    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        """Lease the best ready message of ``queues``, waiting up to ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._store.condition:
            while True:
                batch, due = self._store.reserve(queues, 1, self.visibility_timeout)
                if batch:
                    return batch[0]
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return None
                if due is not None:
                    until_due = max(due - time.time(), 0.001)
                    wait = until_due if wait is None else min(wait, until_due)
                self._store.condition.wait(wait)

    def ack(self, delivery: Delivery) -> None:
        """Delete the message, unless its lease was lost (then log a warning)."""
        with self._store.condition:
            entry = self._store.leased_entry(delivery, "ack")
            if entry is not None:
                del self._store.queues[entry.queue][entry.id]

    def requeue(self, delivery: Delivery) -> None:
        """Make the message deliverable again, marked redelivered (if still leased)."""
        with self._store.condition:
            entry = self._store.leased_entry(delivery, "requeue")
            if entry is not None:
                entry.leased_until = entry.token = None
                entry.redelivered = True
                self._store.notify()

    def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Push the leases still held back to ``visibility_timeout`` from now."""
        until = time.time() + self.visibility_timeout
        with self._store.condition:
            for delivery in deliveries:
                entry = self._store.leased_entry(delivery, "renew")
                if entry is not None:
                    entry.leased_until = until

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move the message to :data:`DEAD_LETTER_QUEUE` atomically (if still leased)."""
        encoded = encode_json(dead_letter_copy(delivery, reason).headers, "headers")
        store = self._store
        with store.condition:
            entry = self._store.leased_entry(delivery, "dead-letter")
            if entry is None:
                return
            del store.queues[entry.queue][entry.id]
            entry.queue = entry.routing_key = DEAD_LETTER_QUEUE
            entry.exchange = ""
            entry.headers = encoded
            entry.not_before = time.time()
            entry.leased_until = entry.token = None
            entry.redelivered = False
            store.queues.setdefault(DEAD_LETTER_QUEUE, {})[entry.id] = entry
            store.notify()

    def purge(self, queue: str) -> int:
        """Delete the messages of ``queue`` that are not leased; return how many."""
        now = time.time()
        with self._store.condition:
            entries = self._store.queues.get(queue, {})
            doomed = [key for key, entry in entries.items() if not entry.is_leased(now)]
            for key in doomed:
                del entries[key]
            return len(doomed)

    def size(self, queue: str) -> int:
        """How many messages of ``queue`` are not leased, eta-delayed ones included."""
        now = time.time()
        with self._store.condition:
            entries = self._store.queues.get(queue, {})
            return sum(1 for entry in entries.values() if not entry.is_leased(now))

    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        """Up to ``limit`` ready messages of ``queue``, oldest first, left unleased."""
        now = time.time()
        with self._store.condition:
            entries = self._store.queues.get(queue, {}).values()
            ready = sorted((e for e in entries if e.is_ready(now)), key=lambda e: e.id)
            return [entry.message() for entry in ready[:limit]]

    # -- asyncio face: every operation but waiting is a few dict operations ----------

    async def aopen(self) -> None:
        """Nothing to open."""

    async def aclose(self) -> None:
        """Nothing to close."""

    async def afetch(self, queues: Sequence[str], *, limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages, waiting up to ``timeout`` for the first."""
        deadline = time.monotonic() + timeout
        store = self._store
        waiter: Waiter = (asyncio.get_running_loop(), asyncio.Event())
        try:
            while True:
                with store.condition:
                    batch, due = self._store.reserve(queues, limit, self.visibility_timeout)
                    if not batch:
                        waiter[1].clear()
                        store.waiters.add(waiter)
                if batch:
                    return batch
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return []
                if due is not None:
                    wait = min(wait, max(due - time.time(), 0.001))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), wait)
        finally:
            with store.condition:
                store.waiters.discard(waiter)

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack several deliveries."""
        for delivery in deliveries:
            self.ack(delivery)

    async def arequeue(self, deliveries: Sequence[Delivery]) -> None:
        """Requeue several deliveries."""
        for delivery in deliveries:
            self.requeue(delivery)

    async def arenew(self, deliveries: Sequence[Delivery]) -> None:
        """Renew several leases."""
        self.renew(deliveries)

    async def apublish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish from the event loop."""
        self.publish(message, exchange=exchange, routing_key=routing_key, eta=eta)

    async def adead_letter(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter from the event loop."""
        self.dead_letter(delivery, reason)
