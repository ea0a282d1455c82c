"""The RabbitMQ broker: ``amqp://``, ``amqps://`` (TLS) and ``pyamqp://`` (a synonym).

URL: ``amqp://user:password@host:port/vhost`` as Celery writes it; ``//`` at the end
(``amqp://guest:guest@localhost:5672//``) is the vhost ``/``, as is no path at all.
Query parameters ``heartbeat`` and ``connect_timeout`` and, for TLS, aiormq's
``cafile``, ``certfile``, ``keyfile``, ``no_verify_ssl`` are understood.

TLS: an ``amqps://`` URL, or ``broker_use_ssl`` (``True``, or a dict with py-amqp's
keys ``keyfile``, ``certfile``, ``ca_certs``, ``cert_reqs``, ``server_hostname``,
``ciphers``, see ``celeriac._internal.tls``) with any AMQP URL; the default port is
then 5671. The heartbeat is ``broker_heartbeat`` (120 s, 0 turns it off).

``broker_transport_options``: ``heartbeat`` and ``ssl`` (override the two settings, as
in kombu), ``connect_timeout`` (default 4), ``publish_retries`` (default 3: attempts
after a lost connection before ``publish`` raises), ``max_priority`` (like
``task_queue_max_priority``), ``ssl_context`` (an :class:`ssl.SSLContext`, used as it
is), ``client_name``.

``broker_pool_limit`` has no meaning here: one connection per process carries every
channel.

Semantics (see ``_amqp_client``, ``_amqp_consumer``, ``_amqp_topology``): topology as
Celery declares it; messages are persistent when their ``delivery_mode`` is 2 (tasks'
always is); priority is RabbitMQ's (``x-max-priority``, higher first); a lease lasts
until the message is acked or the channel that delivered it closes, so ``renew`` has
nothing to do and ``visibility_timeout`` is not used; ETA/countdown messages wait in
RabbitMQ's delay queues, never in a consumer's unacked set, so ``consumer_timeout``
never fires for them. What RabbitMQ cannot do: ``size``/``purge`` do not see messages
still in the delay queues, and ``peek`` (basic.get, then requeue) marks the messages
it saw as redelivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar, final

from celeriac.brokers._amqp_client import Session, amqp_errors
from celeriac.brokers._amqp_codec import message_properties
from celeriac.brokers._amqp_consumer import Leases, delivery_from
from celeriac.brokers._amqp_loop import LoopThread
from celeriac.brokers._amqp_routes import Routes
from celeriac.brokers._amqp_settings import ConnectionSettings, connection_settings
from celeriac.brokers._amqp_topology import QueueLike, delay_seconds
from celeriac.brokers.base import (
    DEAD_LETTER_QUEUE,
    Broker,
    Delivery,
    EventChannel,
    Mailbox,
    Outgoing,
    dead_letter_copy,
)
from celeriac.exceptions import OperationalError
from celeriac.protocol import Message

__all__ = ["AmqpBroker", "connection_settings"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@final
class AmqpBroker(Broker):
    """A broker on RabbitMQ (AMQP 0.9.1).

    Args:
        url: The broker URL, as configured (for display).
        settings: How to connect.
        publish_retries: Reconnect-and-retry attempts before ``publish`` gives up.
        max_priority: ``x-max-priority`` for queues that set none.
    """

    def __init__(
        self,
        *,
        url: str,
        settings: ConnectionSettings,
        publish_retries: int = 3,
        max_priority: int | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self.publish_retries = publish_retries
        self.routes = Routes(None, max_priority)
        self._thread = LoopThread("celeriac-amqp")
        self._session: Session | None = None
        self._leases: Leases | None = None

    @classmethod
    def from_url(cls, url: str, *, transport_options: dict[str, Any]) -> AmqpBroker:
        """Build a broker from ``amqp://``, ``amqps://`` or ``pyamqp://`` URLs."""
        options = transport_options or {}
        max_priority = options.get("max_priority")
        return cls(
            url=url,
            settings=connection_settings(url, options),
            publish_retries=int(options.get("publish_retries", 3)),
            max_priority=None if max_priority is None else int(max_priority),
        )

    def use_topology(self, queues: Mapping[str, Any], *, max_priority: int | None = None) -> None:
        """Declare queues as the app does (``task_queues``, ``task_queue_max_priority``).

        The values are ``celeriac.Queue`` objects (read through :class:`QueueLike`).
        """
        known: Mapping[str, QueueLike] = queues
        if max_priority is None:
            max_priority = self.routes.max_priority
        self.routes = Routes(known, max_priority)

    def mailbox(self) -> Mailbox:
        """Celery's pidbox on this RabbitMQ (``celery inspect`` reaches celeriac and back)."""
        from celeriac.brokers._amqp_control import AmqpMailbox

        return AmqpMailbox(self)

    def event_channel(self) -> EventChannel:
        """Celery's ``celeryev`` topic exchange on this RabbitMQ."""
        from celeriac.brokers._amqp_control import AmqpEventChannel

        return AmqpEventChannel(self)

    def __repr__(self) -> str:
        return f"<AmqpBroker {self.settings.url.split('@')[-1]}>"

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        """Start the connection thread and connect.

        Raises:
            OperationalError: the broker cannot be reached.
        """
        if self._thread.is_running() and self._session is not None:
            return
        self._thread.start()
        session = Session(self.settings)
        self._session = session
        self._leases = Leases(session, lambda name: self.routes.prepare_queue(session, name))
        try:
            self._run(session.connect(), "connect")
        except OperationalError:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (unacked messages return to their queues)."""
        session, self._session, self._leases = self._session, None, None
        if session is not None and self._thread.is_running():
            try:
                self._run(session.close(), "close")
            finally:
                self._thread.stop()

    def _parts(self) -> tuple[Session, Leases]:
        if self._session is None or self._leases is None or not self._thread.is_running():
            self.open()
        assert self._session is not None and self._leases is not None
        return self._session, self._leases

    def _run(self, coro: Coroutine[Any, Any, T], what: str, timeout: float | None = None) -> T:
        with amqp_errors(f"AMQP {what} failed"):
            return self._thread.run(coro, timeout)

    async def _arun(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        with amqp_errors(f"AMQP {what} failed"):
            return await self._thread.arun(coro)

    # -- publishing ------------------------------------------------------------------

    async def _publish(
        self, message: Message, exchange: str, routing_key: str, eta: float | None
    ) -> None:
        session = self._parts_on_loop()
        seconds = 0 if eta is None else delay_seconds(eta, time.time())
        attempt = 0
        while True:
            try:
                with amqp_errors("AMQP publish failed"):
                    if seconds:
                        props = message_properties(message, drop_expiration=True)
                        await self.routes.publish_delayed(
                            session,
                            message.body,
                            props,
                            exchange=exchange,
                            routing_key=routing_key,
                            seconds=seconds,
                        )
                    else:
                        await self.routes.prepare_publish(session, exchange, routing_key)
                        await session.publish(
                            message.body,
                            exchange=exchange,
                            routing_key=routing_key,
                            properties=message_properties(message),
                        )
                return
            except OperationalError as exc:
                attempt += 1
                if attempt > self.publish_retries:
                    raise
                delay = max(session.retry_delay(), 0.2 * attempt)
                logger.warning("Publish failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    def _parts_on_loop(self) -> Session:
        session = self._session
        if session is None:
            raise OperationalError("the AMQP broker is not open")
        return session

    def publish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish and wait for the broker's confirm; ETA messages go to the delay queues."""
        self._parts()
        self._run(self._publish(message, exchange, routing_key, eta), "publish")

    def publish_many(self, items: Sequence[Outgoing]) -> None:
        """Publish several messages in order, each confirmed, in one hop to the I/O thread."""
        self._parts()

        async def publish_all() -> None:
            for item in items:
                await self._publish(item.message, item.exchange, item.routing_key, item.eta)

        self._run(publish_all(), "publish")

    async def apublish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish from the event loop (confirmed, like :meth:`publish`)."""
        self._parts()
        await self._arun(self._publish(message, exchange, routing_key, eta), "publish")

    # -- consuming -------------------------------------------------------------------

    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        """Lease one message (basic.get), waiting up to ``timeout`` seconds."""
        _, leases = self._parts()
        return self._run(leases.get(list(queues), timeout), "get")

    async def afetch(self, queues: Sequence[str], *, limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages from the consumer buffer (see ``_amqp_consumer``)."""
        _, leases = self._parts()
        return await self._thread.arun(
            leases.fetch(list(queues), limit, timeout),
            on_abandoned=leases.give_back,
        )

    def ack(self, delivery: Delivery) -> None:
        """basic.ack."""
        _, leases = self._parts()
        self._run(leases.settle([delivery], requeue=None), "ack")

    def requeue(self, delivery: Delivery) -> None:
        """basic.reject with requeue: back in its queue, marked redelivered."""
        _, leases = self._parts()
        self._run(leases.settle([delivery], requeue=True), "requeue")

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack several deliveries in one hop to the connection's loop."""
        _, leases = self._parts()
        await self._arun(leases.settle(list(deliveries), requeue=None), "ack")

    async def arequeue(self, deliveries: Sequence[Delivery]) -> None:
        """Requeue several deliveries in one hop."""
        _, leases = self._parts()
        await self._arun(leases.settle(list(deliveries), requeue=True), "requeue")

    async def areject(self, deliveries: Sequence[Delivery]) -> None:
        """basic.reject without requeue: dropped, or to the queue's dead-letter exchange."""
        _, leases = self._parts()
        await self._arun(leases.settle(list(deliveries), requeue=False), "reject")

    def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Nothing to do: RabbitMQ keeps a message leased until its channel closes."""

    def is_held(self, delivery: Delivery) -> bool:
        """``False`` once the channel that delivered it closed (RabbitMQ requeued it)."""
        leases = self._leases
        return leases is None or leases.is_held(delivery)

    async def arenew(self, deliveries: Sequence[Delivery]) -> None:
        """Nothing to do (see :meth:`renew`)."""

    async def adead_letter(self, delivery: Delivery, reason: str) -> None:
        """Publish the copy to the dead-letter queue (confirmed), then ack the original."""
        await self.apublish(dead_letter_copy(delivery, reason), routing_key=DEAD_LETTER_QUEUE)
        await self.aack([delivery])

    async def aopen(self) -> None:
        """Open from the event loop (connecting happens on the connection's thread)."""
        await asyncio.to_thread(self.open)

    async def aclose(self) -> None:
        """Close from the event loop."""
        await asyncio.to_thread(self.close)

    # -- queues ----------------------------------------------------------------------

    def declare_queue(self, queue: str) -> None:
        """Declare ``queue`` with its exchange and binding, as the app defines it."""
        session, _ = self._parts()
        self._run(self.routes.prepare_queue(session, queue), "declare")

    def delete_queue(self, queue: str) -> None:
        """Delete ``queue`` and its messages (an admin helper, not part of the contract)."""
        session, _ = self._parts()

        async def delete() -> None:
            channel = await session.channel("admin")
            await channel.queue_delete(queue)
            session.declared.discard(("queue", queue))

        self._run(delete(), "queue delete")

    def size(self, queue: str) -> int:
        """Ready messages in ``queue`` (not those in the delay queues)."""
        session, _ = self._parts()
        return self._run(session.queue_count(queue), "size") or 0

    def purge(self, queue: str) -> int:
        """queue.purge; the count RabbitMQ reports."""
        session, _ = self._parts()

        async def purge() -> int:
            if await session.queue_count(queue) is None:
                return 0
            channel = await session.channel("admin")
            purged = await channel.queue_purge(queue)
            return int(purged.message_count or 0)

        return self._run(purge(), "purge")

    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        """Up to ``limit`` ready messages, read with basic.get and requeued in place."""
        session, _ = self._parts()

        async def peek() -> list[Message]:
            if await session.queue_count(queue) is None:
                return []
            channel = await session.channel("admin")
            found: list[Message] = []
            last_tag = 0
            while len(found) < limit:
                message = await channel.basic_get(queue)
                delivery = getattr(message.delivery, "delivery_tag", None)
                if delivery is None:
                    break
                last_tag = int(delivery)
                found.append(delivery_from(message, queue, 0).message)
            if last_tag:
                await channel.basic_nack(last_tag, multiple=True, requeue=True)
                await session.queue_count(queue)  # the requeue is done when this returns
            return found

        return self._run(peek(), "peek")
