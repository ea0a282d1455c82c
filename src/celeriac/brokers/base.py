"""The broker contract every engine implements.

A broker moves :class:`~celeriac.protocol.Message` objects between producers and
consumers through named queues. It has two faces over one connection setting:

* a blocking face for clients and pool workers (``publish``, ``get``, ``ack`` ...);
  blocking calls take a timeout and return ``None`` when it expires;
* an asyncio face for the worker's event loop (``afetch``, ``aack`` ...). The defaults
  run the blocking face in a thread; engines with a native asyncio client override them.

Delivery guarantees: a message taken with ``get``/``afetch`` is *leased* to the
consumer until it is acked, requeued or dead-lettered. A lease that is not renewed
(``renew``) expires after ``visibility_timeout`` seconds and the message becomes
deliverable again, so a consumer that dies loses nothing.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol import Message

__all__ = [
    "DEAD_LETTER_QUEUE",
    "REVOKE_TTL",
    "Broker",
    "Delivery",
    "EventChannel",
    "Mailbox",
    "Outgoing",
    "dead_letter_copy",
]

_B = TypeVar("_B", bound="Broker")

#: Seconds a revoke is remembered (Celery workers keep revoked ids for three hours).
REVOKE_TTL = 3 * 3600.0

#: Where messages that cannot be decoded or routed are kept, unless configured otherwise.
DEAD_LETTER_QUEUE = "celeriac.dead_letter"


@dataclass(slots=True, eq=False)
class Delivery:
    """One leased message, as handed to a consumer.

    Attributes:
        message: The message itself.
        queue: The queue it was taken from.
        tag: The broker's handle for acking it; opaque to callers.
        exchange: The exchange it was published to.
        routing_key: The routing key it was published with.
        redelivered: Whether it was delivered before and not acked.
    """

    message: Message
    queue: str
    tag: Any
    exchange: str = ""
    routing_key: str = ""
    redelivered: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def delivery_info(self) -> dict[str, Any]:
        """The ``delivery_info`` mapping tasks see in ``self.request``."""
        return {
            "exchange": self.exchange,
            "routing_key": self.routing_key,
            "priority": self.message.priority,
            "redelivered": self.redelivered,
        }


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for :meth:`Broker.publish_many`, with :meth:`Broker.publish`'s arguments.

    Attributes:
        message: What to send.
        routing_key: The routing key (the queue name for the default exchange).
        exchange: The exchange; ``""`` means "the queue named ``routing_key``".
        eta: A unix time before which the message must not be delivered.
    """

    message: Message
    routing_key: str
    exchange: str = ""
    eta: float | None = None


def dead_letter_copy(delivery: Delivery, reason: str) -> Message:
    """The message to keep in the dead-letter queue: the original, plus why and whence.

    Body, headers and properties are kept as they were; the headers
    ``x-dead-letter-reason`` and ``x-dead-letter-queue`` are added.
    """
    original = delivery.message
    headers = {
        **original.headers,
        "x-dead-letter-reason": reason,
        "x-dead-letter-queue": delivery.queue,
    }
    return Message(
        original.body,
        headers,
        dict(original.properties),
        original.content_type,
        original.content_encoding,
    )


class Mailbox(ABC):
    """Remote control over a broker: broadcast commands, collect replies.

    Commands and replies are Celery's pidbox bodies (wire spec section 6.2). A client
    calls :meth:`prepare_replies` for its reply key, :meth:`broadcast`, then
    :meth:`collect`; a worker calls :meth:`afetch_commands` in its event loop and answers
    each command that wants a reply with :meth:`areply`. Which worker a command is for
    (``destination``, ``pattern``) is decided by the worker, not the mailbox.
    """

    def prepare_replies(self, reply_key: str) -> dict[str, str]:
        """Get ready to receive replies under ``reply_key``; return the ``reply_to`` value."""
        return {"exchange": "reply.celery.pidbox", "routing_key": reply_key}

    def release_replies(self, reply_key: str) -> None:
        """Forget ``reply_key`` (replies arriving later are dropped)."""

    @abstractmethod
    def broadcast(self, command: dict[str, Any], *, expires: float | None = None) -> None:
        """Send ``command`` to every worker; ``expires`` is a unix deadline."""

    @abstractmethod
    def collect(
        self, reply_key: str, ticket: str, *, timeout: float, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Replies (``{node: reply}``) to ``ticket`` until ``timeout`` or ``limit`` of them."""

    @abstractmethod
    async def afetch_commands(self, node: str, *, timeout: float) -> list[dict[str, Any]]:
        """Commands broadcast since the last call (waiting at most ``timeout`` for one)."""

    @abstractmethod
    async def areply(self, reply_to: dict[str, Any], ticket: str, node: str, reply: Any) -> None:
        """Send ``{node: reply}`` for ``ticket`` to the client that asked."""

    @abstractmethod
    def store_revoked(self, task_ids: Sequence[str], *, ttl: float = REVOKE_TTL) -> None:
        """Remember revoked ids for ``ttl`` seconds, for workers that start later."""

    @abstractmethod
    def load_revoked(self) -> dict[str, float]:
        """Revoked ids that have not expired, with their unix expiry times."""

    def close(self) -> None:
        """Release connections."""


class EventChannel(ABC):
    """Fan-out of monitoring events (Celery's ``celeryev``): every listener gets each one.

    An event is a JSON object, or a list of them (the worker's batched ``task.multi``).
    Events are not kept for listeners that are not listening: a receiver gets what is
    published after its first :meth:`receive` call. Each ``routing_key`` pattern given to
    :meth:`receive` is a listener of its own, started by its first call.
    """

    @abstractmethod
    def publish(self, routing_key: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Send one event (or a batch) to every listener."""

    @abstractmethod
    def receive(
        self, *, timeout: float, routing_key: str = "#"
    ) -> list[dict[str, Any] | list[dict[str, Any]]]:
        """Events published since the last call, waiting at most ``timeout`` for one.

        Only those published under a routing key the topic pattern ``routing_key``
        matches: ``worker.#`` is the workers' events, ``#`` everything.
        """

    def close(self) -> None:
        """Release connections."""


class Broker(ABC):
    """Base class of every broker.

    Subclasses implement the blocking face; the asyncio face has working defaults.
    ``open``/``close`` are idempotent and default to no-ops.
    """

    #: Scheme names as shown in the worker banner (``transport:`` line).
    url: str = ""
    #: Seconds a leased message stays invisible to other consumers without renewal.
    visibility_timeout: float = 3600.0
    #: Whether :meth:`publish` honours ``eta`` by holding the message broker-side.
    supports_eta: bool = True

    @classmethod
    @abstractmethod
    def from_url(cls: type[_B], url: str, *, transport_options: dict[str, Any]) -> _B:
        """Build the broker for ``url`` with ``broker_transport_options``."""

    def open(self) -> None:
        """Connect (or create storage). Safe to call twice."""

    def close(self) -> None:
        """Release connections. Safe to call twice."""

    def __enter__(self) -> Broker:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- blocking face -----------------------------------------------------------

    @abstractmethod
    def publish(
        self,
        message: Message,
        *,
        exchange: str = "",
        routing_key: str,
        eta: float | None = None,
    ) -> None:
        """Send ``message``.

        Args:
            message: What to send.
            exchange: The exchange; ``""`` means "the queue named ``routing_key``".
            routing_key: The routing key (the queue name for the default exchange).
            eta: A unix time before which the message must not be delivered.
        """

    def publish_many(self, items: Sequence[Outgoing]) -> None:
        """Send several messages, in order, in as few round trips as the engine can.

        What :meth:`publish` does for each item; the default calls it for each. The batch
        is not atomic unless the engine says so: when this raises, the items before the
        failing one may have been sent.
        """
        for item in items:
            self.publish(
                item.message, exchange=item.exchange, routing_key=item.routing_key, eta=item.eta
            )

    @abstractmethod
    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        """Lease the next message from any of ``queues``; ``None`` on timeout."""

    @abstractmethod
    def ack(self, delivery: Delivery) -> None:
        """Forget a leased message: it was handled."""

    @abstractmethod
    def requeue(self, delivery: Delivery) -> None:
        """Give a leased message back to its queue, marked redelivered."""

    @abstractmethod
    def purge(self, queue: str) -> int:
        """Delete the ready messages of ``queue``; return how many were deleted."""

    @abstractmethod
    def size(self, queue: str) -> int:
        """How many messages ``queue`` holds that are not leased."""

    @abstractmethod
    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        """Return up to ``limit`` ready messages of ``queue`` without leasing them."""

    def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Extend the leases of messages still being worked on (no-op if not leased)."""

    def is_held(self, delivery: Delivery) -> bool:
        """Whether ``delivery`` is still this consumer's, as far as known without I/O.

        ``False`` once the broker has certainly taken the message back (on RabbitMQ, the
        channel that delivered it closed: the message is in its queue again), so a
        consumer should not start it. The default assumes it is.
        """
        return True

    def use_topology(self, queues: Mapping[str, Any], *, max_priority: int | None = None) -> None:
        """Learn the app's declared queues (called before :meth:`open`).

        ``queues`` maps names to ``celeriac.Queue`` objects (``task_queues`` plus the
        ones created on demand; the mapping is live), ``max_priority`` is
        ``task_queue_max_priority``. Brokers that declare server-side topology (AMQP)
        use them; the default ignores them.
        """

    def declare_queue(self, queue: str) -> None:
        """Make sure ``queue`` exists (no-op for brokers that create queues on use)."""

    def mailbox(self) -> Mailbox:
        """The remote-control mailbox on this broker.

        Raises:
            ImproperlyConfigured: the broker has no remote control.
        """
        raise ImproperlyConfigured(
            f"remote control is not available on {self.url or 'this broker'}"
        )

    def event_channel(self) -> EventChannel:
        """The monitoring-event channel on this broker.

        Raises:
            ImproperlyConfigured: the broker carries no events.
        """
        raise ImproperlyConfigured(f"events are not available on {self.url or 'this broker'}")

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move a message that cannot be handled to the dead-letter queue, then ack it."""
        self.publish(dead_letter_copy(delivery, reason), routing_key=DEAD_LETTER_QUEUE)
        self.ack(delivery)

    # -- asyncio face ------------------------------------------------------------

    async def aopen(self) -> None:
        """Open from the event loop."""
        await asyncio.to_thread(self.open)

    async def aclose(self) -> None:
        """Close from the event loop."""
        await asyncio.to_thread(self.close)

    async def afetch(self, queues: Sequence[str], *, limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages, waiting at most ``timeout`` for the first.

        Must be cancellation-safe: a fetch cancelled while it waits leases nothing.
        """
        first = await self._get_in_thread(queues, timeout)
        if first is None:
            return []
        batch = [first]
        while len(batch) < limit:
            more = await self._get_in_thread(queues, 0)
            if more is None:
                break
            batch.append(more)
        return batch

    async def _get_in_thread(self, queues: Sequence[str], timeout: float) -> Delivery | None:
        """``get`` in a thread; if the caller gives up, a message it took goes back."""
        future = asyncio.ensure_future(asyncio.to_thread(self.get, queues, timeout))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._give_back)
            raise

    def _give_back(self, future: asyncio.Future[Delivery | None]) -> None:
        if not future.cancelled() and future.exception() is None:
            delivery = future.result()
            if delivery is not None:
                self.requeue(delivery)

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack several deliveries."""
        for delivery in deliveries:
            await asyncio.to_thread(self.ack, delivery)

    async def arequeue(self, deliveries: Sequence[Delivery]) -> None:
        """Requeue several deliveries."""
        for delivery in deliveries:
            await asyncio.to_thread(self.requeue, delivery)

    async def areject(self, deliveries: Sequence[Delivery]) -> None:
        """Reject without requeue: the message is gone (Celery's ``reject(requeue=False)``).

        RabbitMQ hands it to the queue's dead-letter exchange, if it has one; brokers
        with no dead-lettering of their own simply acknowledge it.
        """
        await self.aack(deliveries)

    async def arenew(self, deliveries: Sequence[Delivery]) -> None:
        """Renew the leases of several deliveries."""
        await asyncio.to_thread(self.renew, deliveries)

    async def apublish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish from the event loop."""
        await asyncio.to_thread(
            self.publish, message, exchange=exchange, routing_key=routing_key, eta=eta
        )

    async def adead_letter(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter from the event loop."""
        await asyncio.to_thread(self.dead_letter, delivery, reason)
