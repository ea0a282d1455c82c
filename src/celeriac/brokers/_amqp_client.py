"""One AMQP connection on a private event loop, for the ``amqp://`` broker and ``rpc://``.

The client library is aiormq (asyncio). Everything that touches the connection runs on
one private loop in a thread of its own (``_amqp_loop.LoopThread``).

A :class:`Session` keeps three channels: ``publish`` (publisher confirms, so a publish
that returns has been accepted by the broker), ``consume`` (gets, consumers, acks) and
``admin`` (declarations, passive declares, purges, peeks). An error that closes a
channel (a failed declaration, a missing queue) therefore never costs the consumer's
unacked messages. When the connection is lost, the next call reconnects (with a
backoff after failures), the declaration cache is emptied so everything is declared
again, and the consume channel's *generation* changes: acks for deliveries of an older
generation are ignored, because RabbitMQ has already requeued those messages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiormq
import aiormq.exceptions as amqp_errors_module
from pamqp.commands import Basic

from celeriac._internal.tls import connect_failure
from celeriac.brokers._amqp_settings import ConnectionSettings
from celeriac.brokers._amqp_topology import ExchangeSpec, QueueSpec
from celeriac.exceptions import BrokerError, CeleriacError, OperationalError

__all__ = ["Session", "amqp_errors"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_BACKOFF = 30.0
#: Consume-channel generations, unique in the process across sessions.
_GENERATIONS = itertools.count(1)


@contextlib.contextmanager
def amqp_errors(
    what: str,
    *,
    transient: type[CeleriacError] = OperationalError,
    refused: type[CeleriacError] = BrokerError,
) -> Iterator[None]:
    """Translate the client library's errors into celeriac's, chaining the cause.

    Connection trouble (and timeouts) becomes ``transient`` (:class:`OperationalError`,
    which callers may retry); anything else the broker refused becomes ``refused``
    (:class:`BrokerError`). The ``rpc://`` backend passes its own family's error.
    """
    try:
        yield
    except BrokerError as exc:
        if isinstance(exc, transient | refused):
            raise
        kind = transient if isinstance(exc, OperationalError) else refused
        raise kind(f"{what}: {exc}") from exc
    except (
        amqp_errors_module.AMQPConnectionError,
        amqp_errors_module.ChannelInvalidStateError,
        ConnectionError,
        OSError,
        TimeoutError,
        asyncio.TimeoutError,
        concurrent.futures.TimeoutError,
    ) as exc:
        raise transient(f"{what}: {exc!r}") from exc
    except amqp_errors_module.AMQPError as exc:
        raise refused(f"{what}: {exc!r}") from exc


@contextlib.contextmanager
def _connect_errors(url: str) -> Iterator[None]:
    """:func:`amqp_errors` for connecting, naming the address and TLS trouble plainly."""
    parts = urlsplit(url)
    what = f"cannot connect to the AMQP broker at {parts.hostname}:{parts.port}"
    try:
        with amqp_errors(what):
            yield
    except OperationalError as exc:
        cause = exc.__cause__
        why = (
            None
            if cause is None
            else connect_failure(
                cause, tls=parts.scheme == "amqps", how_to_use_tls="amqps:// or broker_use_ssl"
            )
        )
        if why is None:
            raise
        raise OperationalError(f"{what}: {why}") from cause


class Session:
    """One connection and its channels, used only from the private loop."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self.connection: aiormq.abc.AbstractConnection | None = None
        self.channels: dict[str, aiormq.abc.AbstractChannel] = {}
        #: Changes whenever the consume channel is replaced.
        self.generation = next(_GENERATIONS)
        #: What was declared on this connection (emptied when it is lost).
        self.declared: set[tuple[Any, ...]] = set()
        self.on_consume_channel_lost: list[Callable[[], object]] = []
        self._failures = 0
        self._retry_at = 0.0
        self._connect_lock: asyncio.Lock | None = None
        self._closing = False

    # -- connection ------------------------------------------------------------------

    def retry_delay(self) -> float:
        """Seconds until the next connection attempt is allowed."""
        return max(0.0, self._retry_at - time.monotonic())

    def is_connected(self) -> bool:
        """Whether the connection is open."""
        return self.connection is not None and not self.connection.is_closed

    async def connect(self) -> aiormq.abc.AbstractConnection:
        """Return the open connection, connecting when needed (with backoff).

        Raises:
            OperationalError: the broker cannot be reached (yet).
        """
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self.connection is not None and not self.connection.is_closed:
                return self.connection
            if self._closing:
                raise OperationalError("the AMQP connection is closed")
            wait = self.retry_delay()
            if wait > 0:
                raise OperationalError(f"not connected; next attempt in {wait:.1f}s")
            self._forget_connection()
            settings = self.settings
            extra = (
                {"server_hostname": settings.server_hostname} if settings.server_hostname else {}
            )
            try:
                with _connect_errors(settings.url):
                    connection = await asyncio.wait_for(
                        aiormq.connect(
                            settings.url,
                            context=settings.ssl_context,
                            client_properties=settings.client_properties,
                            **extra,
                        ),
                        settings.connect_timeout,
                    )
            except OperationalError:
                self._failures += 1
                backoff = min(0.25 * 2 ** (self._failures - 1), _MAX_BACKOFF)
                self._retry_at = time.monotonic() + backoff
                raise
            if self._failures:
                logger.info("Reconnected to the AMQP broker")
            self._failures = 0
            self.connection = connection
            return connection

    def _forget_connection(self) -> None:
        lost_consumer = "consume" in self.channels
        self.connection = None
        self.channels.clear()
        self.declared.clear()
        if lost_consumer:
            self._consume_channel_lost()

    def _consume_channel_lost(self) -> None:
        self.generation = next(_GENERATIONS)
        for callback in list(self.on_consume_channel_lost):
            callback()

    async def channel(self, role: str) -> aiormq.abc.AbstractChannel:
        """The open channel for ``role`` (``publish``, ``consume`` or ``admin``)."""
        channel = self.channels.get(role)
        if channel is not None and not channel.is_closed and self.is_connected():
            return channel
        connection = await self.connect()
        if role == "consume" and channel is not None:
            self._consume_channel_lost()
        with amqp_errors("cannot open an AMQP channel"):
            channel = await connection.channel(publisher_confirms=role == "publish")
        self.channels[role] = channel
        return channel

    async def close(self) -> None:
        """Close the connection (unacked messages go back to their queues)."""
        self._closing = True
        connection, self.connection = self.connection, None
        self.channels.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    # -- declarations ----------------------------------------------------------------

    async def _declare_once(
        self, key: tuple[Any, ...], declare: Callable[[], Awaitable[None]]
    ) -> None:
        await self.connect()  # a lost connection empties the cache first
        if key not in self.declared:
            await declare()
            self.declared.add(key)

    async def declare_exchange(self, spec: ExchangeSpec) -> None:
        """Declare ``spec`` (once per connection); an existing one is used as it is."""
        if not spec.name:
            return

        async def declare() -> None:
            channel = await self.channel("admin")
            try:
                await channel.exchange_declare(
                    spec.name,
                    exchange_type=spec.type,
                    durable=spec.durable,
                    auto_delete=spec.auto_delete,
                )
            except amqp_errors_module.ChannelPreconditionFailed as exc:
                logger.warning("Exchange %r exists with other settings (%s)", spec.name, exc)

        await self._declare_once(("exchange", spec.name), declare)

    async def declare_queue(self, spec: QueueSpec) -> None:
        """Declare ``spec`` and its binding (once per connection).

        A queue that exists with other arguments (say, a peer declared it without
        ``x-max-priority``) is used as it is, with a warning.
        """

        async def declare() -> None:
            if spec.exchange is not None:
                await self.declare_exchange(spec.exchange)
            channel = await self.channel("admin")
            try:
                await channel.queue_declare(
                    spec.name,
                    durable=spec.durable,
                    exclusive=spec.exclusive,
                    auto_delete=spec.auto_delete,
                    arguments=spec.arguments,
                )
            except amqp_errors_module.ChannelPreconditionFailed as exc:
                logger.warning("Queue %r exists with other arguments (%s)", spec.name, exc)
            if spec.exchange is not None and spec.exchange.name:
                await self.bind_queue(spec.name, spec.exchange.name, spec.binding_key)

        await self._declare_once(("queue", spec.name), declare)

    async def bind_queue(self, queue: str, exchange: str, key: str) -> None:
        """Bind ``queue`` to ``exchange`` with ``key`` (once per connection)."""

        async def bind() -> None:
            channel = await self.channel("admin")
            await channel.queue_bind(queue, exchange, routing_key=key)

        await self._declare_once(("bind", queue, exchange, key), bind)

    async def bind_exchange(self, destination: str, source: str, key: str) -> None:
        """Bind exchange ``destination`` to ``source`` with ``key`` (once)."""

        async def bind() -> None:
            channel = await self.channel("admin")
            await channel.exchange_bind(destination, source, routing_key=key)

        await self._declare_once(("xbind", destination, source, key), bind)

    async def queue_count(self, queue: str) -> int | None:
        """Ready messages in ``queue``; ``None`` if it does not exist."""
        channel = await self.channel("admin")
        try:
            declared = await channel.queue_declare(queue, passive=True)
        except amqp_errors_module.ChannelNotFoundEntity:
            return None
        return int(declared.message_count or 0)

    # -- publishing ------------------------------------------------------------------

    async def publish(
        self, body: bytes, *, exchange: str, routing_key: str, properties: Basic.Properties
    ) -> None:
        """Publish and wait for the broker's confirm.

        Raises:
            BrokerError: the broker refused the message (nack).
        """
        channel = await self.channel("publish")
        confirmation = await channel.basic_publish(
            body, exchange=exchange, routing_key=routing_key, properties=properties
        )
        if not isinstance(confirmation, Basic.Ack):
            raise BrokerError(f"the broker refused a message for {exchange!r}/{routing_key!r}")
