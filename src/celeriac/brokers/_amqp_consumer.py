"""Leasing messages on RabbitMQ: a basic.consume buffer for ``afetch``, basic.get for ``get``.

QoS: ``afetch(limit=room)`` is the worker asking for up to ``room`` more messages on top
of those it holds. RabbitMQ counts every unacked message against ``basic.qos``
``prefetch_count``, so the consumer's prefetch is kept at *held + room*: set when
consuming starts (where it is the worker's whole prefetch) and raised, by consuming
again, only if a caller ever asks for more. Deliveries wait in a local buffer, bounded
by that prefetch, until ``afetch`` takes them, highest priority first. A cancelled
``afetch`` takes nothing (taking happens after the wait, without awaiting).

Every delivery's tag records the consume channel's generation; acks and requeues for an
older generation are ignored with a warning (the channel that held them is gone, and
RabbitMQ has requeued those messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiormq
from aiormq.exceptions import AMQPConnectionError, ChannelInvalidStateError

from celeriac.brokers._amqp_client import Session
from celeriac.brokers._amqp_codec import to_delivery
from celeriac.brokers.base import Delivery
from celeriac.exceptions import BrokerError, OperationalError

__all__ = ["AmqpTag", "Leases", "delivery_from"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AmqpTag:
    """A delivery's handle: the consume channel's generation and the delivery tag."""

    generation: int
    delivery_tag: int


def _tag_of(delivery: Delivery) -> AmqpTag:
    if not isinstance(delivery.tag, AmqpTag):
        raise BrokerError(f"delivery tag {delivery.tag!r} was not made by the AMQP broker")
    return delivery.tag


def delivery_from(message: aiormq.abc.DeliveredMessage, queue: str, generation: int) -> Delivery:
    """The :class:`Delivery` for a message received on the consume channel."""
    frame: Any = message.delivery
    return to_delivery(
        message.body,
        message.header.properties,
        queue=queue,
        tag=AmqpTag(generation, int(frame.delivery_tag)),
        exchange=str(frame.exchange or ""),
        routing_key=str(frame.routing_key or ""),
        redelivered=bool(frame.redelivered),
    )


class Leases:
    """The consume side of one session: buffer, consumers, acks (private loop only).

    Args:
        session: The connection.
        prepare_queue: Declares a queue before it is read.
    """

    def __init__(self, session: Session, prepare_queue: Callable[[str], Awaitable[None]]) -> None:
        self.session = session
        self.prepare_queue = prepare_queue
        self._buffer: list[tuple[int, Delivery]] = []
        self._arrived = 0
        self._event: asyncio.Event | None = None
        self._consumer_tags: list[str] = []
        self._queues: tuple[str, ...] = ()
        self._prefetch = 0
        self._outstanding: set[int] = set()
        self._generation = -1
        self._get_lock = asyncio.Lock()
        session.on_consume_channel_lost.append(self._reset)

    def _reset(self) -> None:
        self._buffer.clear()
        self._consumer_tags.clear()
        self._outstanding.clear()
        self._queues = ()
        self._prefetch = 0
        if self._event is not None:
            self._event.set()

    # -- afetch ----------------------------------------------------------------------

    async def fetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """Up to ``limit`` deliveries, waiting up to ``timeout`` for the first.

        While the broker is unreachable this keeps trying to reconnect and returns an
        empty list when ``timeout`` runs out, so the worker's loop goes on.
        """
        if self._event is None:
            self._event = asyncio.Event()
        deadline = time.monotonic() + timeout
        while True:
            try:
                started = await self._consume(tuple(dict.fromkeys(queues)), max(limit, 1))
            except OperationalError as exc:
                remaining = deadline - time.monotonic()
                logger.warning("Cannot consume from the AMQP broker: %s", exc)
                if remaining <= 0:
                    return []
                await asyncio.sleep(min(max(self.session.retry_delay(), 0.05), remaining))
                continue
            if self._buffer:
                if started and len(self._buffer) < limit:
                    await self._gather(limit)
                return self._take(limit)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)

    async def _gather(self, limit: int) -> None:
        """Consuming just started: let the burst RabbitMQ sends arrive (5 ms quiet)."""
        assert self._event is not None
        while len(self._buffer) < limit:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), 0.005)
            except asyncio.TimeoutError:
                return

    async def _consume(self, queues: tuple[str, ...], limit: int) -> bool:
        """Make sure ``queues`` are consumed with room for ``limit``; True if (re)started."""
        channel = await self.session.channel("consume")
        if self._generation != self.session.generation:
            self._reset()
            self._generation = self.session.generation
        wanted = len(self._outstanding) + limit
        if queues == self._queues and wanted <= self._prefetch:
            return False
        for tag in self._consumer_tags:
            await channel.basic_cancel(tag)
        self._consumer_tags.clear()
        prefetch = max(wanted, self._prefetch)
        await channel.basic_qos(prefetch_count=prefetch)
        generation = self._generation
        for queue in queues:
            await self.prepare_queue(queue)
            tag = f"celeriac.{uuid.uuid4().hex}"
            self._consumer_tags.append(tag)
            callback = functools.partial(self._on_message, queue, generation)
            await channel.basic_consume(queue, callback, consumer_tag=tag)
        self._queues, self._prefetch = queues, prefetch
        return True

    async def _on_message(
        self, queue: str, generation: int, message: aiormq.abc.DeliveredMessage
    ) -> None:
        if generation != self._generation:
            return
        delivery = delivery_from(message, queue, generation)
        self._arrived += 1
        self._buffer.append((self._arrived, delivery))
        if self._event is not None:
            self._event.set()

    def _take(self, limit: int) -> list[Delivery]:
        chosen = heapq.nsmallest(
            limit, self._buffer, key=lambda item: (-item[1].message.priority, item[0])
        )
        taken = {id(item) for item in chosen}
        self._buffer = [item for item in self._buffer if id(item) not in taken]
        deliveries = [delivery for _, delivery in chosen]
        self._outstanding.update(_tag_of(d).delivery_tag for d in deliveries)
        return deliveries

    def give_back(self, deliveries: Sequence[Delivery]) -> None:
        """Put deliveries a cancelled caller never saw back in front of the buffer."""
        mine = [d for d in deliveries if _tag_of(d).generation == self._generation]
        for delivery in mine:
            self._outstanding.discard(_tag_of(delivery).delivery_tag)
        self._buffer[:0] = [(-1, delivery) for delivery in mine]
        if mine and self._event is not None:
            self._event.set()

    # -- get -------------------------------------------------------------------------

    async def get(self, queues: Sequence[str], timeout: float | None) -> Delivery | None:
        """Lease one message with basic.get, polling ``queues`` in turn."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.01
        while True:
            buffered = [item for item in self._buffer if item[1].queue in queues]
            if buffered:  # a consumer (afetch) on these queues got it first
                self._buffer.remove(buffered[0])
                self._outstanding.add(_tag_of(buffered[0][1]).delivery_tag)
                return buffered[0][1]
            for queue in queues:
                await self.prepare_queue(queue)
                async with self._get_lock:  # aiormq: one basic.get at a time per channel
                    channel = await self.session.channel("consume")
                    generation = self.session.generation
                    message = await channel.basic_get(queue)
                if isinstance(message.delivery, aiormq.spec.Basic.GetOk):
                    return delivery_from(message, queue, generation)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            await asyncio.sleep(pause if remaining is None else min(pause, remaining))
            pause = min(pause * 2, 0.2)

    # -- settling --------------------------------------------------------------------

    def is_held(self, delivery: Delivery) -> bool:
        """Whether the channel that delivered ``delivery`` is still open (any thread)."""
        channel = self.session.channels.get("consume")
        current = _tag_of(delivery).generation == self.session.generation
        return current and channel is not None and not channel.is_closed

    async def settle(self, deliveries: Sequence[Delivery], *, requeue: bool | None) -> None:
        """Ack (``requeue=None``) or reject (requeue or not) deliveries."""
        channel = self.session.channels.get("consume")
        action = "ack" if requeue is None else "requeue" if requeue else "reject"
        for delivery in deliveries:
            tag = _tag_of(delivery)
            if channel is None or channel.is_closed or tag.generation != self.session.generation:
                logger.warning(
                    "%s of a message from queue %r ignored: the channel that delivered it "
                    "is gone, so the broker has already requeued it",
                    action,
                    delivery.queue,
                )
                continue
            self._outstanding.discard(tag.delivery_tag)
            try:
                if requeue is None:
                    await channel.basic_ack(tag.delivery_tag)
                else:
                    await channel.basic_reject(tag.delivery_tag, requeue=requeue)
            except (AMQPConnectionError, ChannelInvalidStateError) as exc:
                # Closed under us (a connection cut): RabbitMQ requeues what was unacked.
                logger.warning(
                    "%s of a message from queue %r ignored: the channel closed (%r), so the "
                    "broker requeues it",
                    action,
                    delivery.queue,
                    exc,
                )
                channel = None
