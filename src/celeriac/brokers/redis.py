"""The Redis broker, wire-compatible with kombu: ``redis://``, ``rediss://``, ``redis+socket://``.

Celery and celeriac share one Redis: kombu's envelopes, priority lists, ``unacked`` /
``unacked_index`` ack emulation and ``_kombu.binding.*`` keys (see ``_redis_wire``).
Beyond kombu (scripts and key layout in ``_redis_scripts``; design and measurements in
docs/architecture.md): taking a message and recording it unacked is one Lua script;
each take has its own lease tag, which ``renew`` keeps fresh so the visibility timeout
never restores a message still in work; expired leases are restored conditionally (no
duplicates); ``eta`` messages wait in ``_celeriac.eta.<queue>`` until any consumer's
next take moves them. An idle consumer blocks in one ``BRPOP`` on its wake-up keys and
its lists for up to ``polling_interval`` (1 s), so it sends one command a second and
still picks up at once what Celery clients push without a wake-up (``_redis_idle``).

Transport options: ``visibility_timeout``, ``global_keyprefix``, ``queue_order_strategy``,
``priority_steps``, ``sep``, ``polling_interval``, ``hold_eta`` and Celery's publish retry
policy (``max_retries``, ``interval_*``). Priorities are kombu's: **lower is served first**.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, final

import redis

from celeriac._internal.naming import mask_url
from celeriac._internal.redis_url import connection_kwargs
from celeriac._internal.tls import use_ssl_value
from celeriac._internal.transport_options import float_option
from celeriac.brokers import _redis_publish as publishing
from celeriac.brokers._redis_client import SCRIPTS as _SCRIPTS  # noqa: F401 (tests read it)
from celeriac.brokers._redis_client import AsyncScripts, SyncScripts, translate_errors
from celeriac.brokers._redis_consume import Taking
from celeriac.brokers._redis_idle import IdleWait
from celeriac.brokers._redis_options import RetryPolicy, parse_options
from celeriac.brokers._redis_plan import Plan
from celeriac.brokers.base import (
    DEAD_LETTER_QUEUE,
    Broker,
    Delivery,
    EventChannel,
    Mailbox,
    Outgoing,
    dead_letter_copy,
)
from celeriac.protocol import Message

__all__ = ["RedisBroker", "RetryPolicy"]

logger = logging.getLogger(__name__)


@final
class RedisBroker(Broker):
    """A broker on one Redis database, sharing kombu's keys.

    Args:
        url: The Redis URL (``redis://``, ``rediss://``, ``redis+socket://``).
        visibility_timeout: Seconds a lease lasts without renewal.
        global_keyprefix: Prepended to every key (kombu's option of that name).
        queue_order_strategy: ``round_robin``, ``sorted`` or ``priority``.
        priority_steps: kombu's priority buckets.
        sep: kombu's separator between a queue name and its bucket.
        polling_interval: The longest one idle wait (a ``BRPOP``) lasts, in seconds.
        publish_retry: How often publishing is retried when the connection fails.
        hold_eta: Hold eta messages of the blocking face (clients) broker-side; ``False``
            lists them with their eta header for Celery workers (the worker's face holds).
        use_ssl: ``broker_use_ssl``: ``True`` or a dict of redis-py's TLS arguments
            (``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``).

    """

    def __init__(
        self,
        *,
        url: str = "redis://localhost:6379/0",
        visibility_timeout: float = 3600.0,
        global_keyprefix: str = "",
        queue_order_strategy: str = "round_robin",
        priority_steps: Sequence[int] = (0, 3, 6, 9),
        sep: str = "\x06\x16",
        polling_interval: float = 1.0,
        publish_retry: RetryPolicy | None = None,
        hold_eta: bool = True,
        use_ssl: bool | Mapping[str, Any] = False,
    ) -> None:
        self.url = url
        self.hold_eta = hold_eta
        self.visibility_timeout = visibility_timeout
        self.polling_interval = polling_interval
        self.publish_retry = publish_retry or RetryPolicy()
        self.plan = Plan(
            prefix=global_keyprefix,
            sep=sep,
            steps=tuple(priority_steps),
            strategy=queue_order_strategy,
            visibility_timeout=visibility_timeout,
        )
        # No socket timeout unless the URL sets one, as kombu's Redis transport: redis-py's
        # own default (5 s) wraps every asyncio send in a task of its own, a third of the
        # client's cost per command. Blocking reads carry their own timeouts.
        self._connection = {"socket_timeout": None, **connection_kwargs(url, use_ssl)}
        self._redis = SyncScripts(self._connection)
        self._aredis = AsyncScripts(self._connection)
        self._idle = IdleWait(
            self.plan, f"{self.plan.keys.prefix}_celeriac.unblock.{uuid.uuid4().hex}"
        )
        socket_timeout = self._connection.get("socket_timeout")
        block_limit = polling_interval
        if socket_timeout:
            block_limit = min(polling_interval, float(socket_timeout) / 2)
        self._taking = Taking(
            self._redis, self._aredis, self.plan, self._idle, self.url, block_limit
        )

    @classmethod
    def from_url(
        cls, url: str, *, transport_options: Mapping[str, Any] | None = None
    ) -> RedisBroker:
        """Build a broker from a URL and ``broker_transport_options`` (ImproperlyConfigured)."""
        options = dict(transport_options or {})
        return cls(
            url=url,
            visibility_timeout=float_option(options, "visibility_timeout", 3600.0),
            polling_interval=float_option(options, "polling_interval", 1.0),
            publish_retry=RetryPolicy.from_options(options),
            hold_eta=bool(options.get("hold_eta", True)),
            use_ssl=use_ssl_value(options.get("ssl")),
            **parse_options(options),
        )

    def __repr__(self) -> str:
        return f"<RedisBroker {mask_url(self.url)}>"

    def mailbox(self) -> Mailbox:
        """Celery's pidbox on this Redis (``celery inspect`` reaches celeriac and back)."""
        from celeriac.brokers._redis_control import RedisMailbox

        return RedisMailbox(url=self.url, connection=self._connection, keys=self.plan.keys)

    def event_channel(self) -> EventChannel:
        """Celery's ``celeryev`` PUB/SUB on this Redis (``celery events``, Flower)."""
        from celeriac.brokers._redis_control import RedisEventChannel

        return RedisEventChannel(url=self.url, connection=self._connection, keys=self.plan.keys)

    def open(self) -> None:
        """Prepare the client; it connects on first use (so publishing retries apply)."""
        self._redis.client()

    def close(self) -> None:
        """Close the blocking face's connections. Safe to call twice."""
        if self._idle.holds:
            try:
                self._idle.give_back(self._redis.client())
            except redis.RedisError as exc:
                logger.error("Messages popped while waiting could not be pushed back: %s", exc)
        self._redis.close()

    async def aopen(self) -> None:
        """Connect the asyncio face and check that Redis answers."""
        with translate_errors(self.url):
            await (await self._aredis.client()).ping()

    async def aclose(self) -> None:
        """Close both faces' connections."""
        await self._aredis.aclose()
        self.close()

    # -- blocking face -------------------------------------------------------------

    def publish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """LPUSH the kombu envelope of ``message`` to its queue (held until ``eta``).

        A named exchange routes through its ``_kombu.binding`` table; one without
        bindings delivers to the queue named ``routing_key``.
        """
        publishing.publish(
            self._redis,
            self.plan,
            self.publish_retry,
            url=self.url,
            hold_eta=self.hold_eta,
            message=message,
            exchange=exchange,
            routing_key=routing_key,
            eta=eta,
        )

    def publish_many(self, items: Sequence[Outgoing]) -> None:
        """Publish several messages in order, a batch of them per round trip.

        Consecutive messages for the same queue go out in one script call. A batch that
        fails is retried as :meth:`publish` is (so, as there, a message whose reply was
        lost may be sent twice); the batches before it stay sent.
        """
        publishing.publish_many(
            self._redis,
            self.plan,
            self.publish_retry,
            url=self.url,
            hold_eta=self.hold_eta,
            items=items,
        )

    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        """Lease the next message of ``queues``, waiting up to ``timeout`` seconds."""
        return self._taking.get(queues, timeout)

    def ack(self, delivery: Delivery) -> None:
        """Forget the message, unless its lease was lost (then log a warning)."""
        with translate_errors(self.url):
            lost = self._redis.eval("ack", *self.plan.ack([delivery]))
        self.plan.log_lost(lost, [delivery], "ack")

    def _end_lease(self, call: tuple[list[str], list[Any]], delivery: Delivery, why: str) -> None:
        with translate_errors(self.url):
            held = self._redis.eval("release", *call)
        self.plan.log_lost([] if held else [1], [delivery], why)

    def requeue(self, delivery: Delivery) -> None:
        """Put the message back at the tail of its queue, marked redelivered."""
        self._end_lease(self.plan.requeue(delivery), delivery, "requeue")

    def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Move the leases forward so the visibility timeout restarts now."""
        if deliveries:
            with translate_errors(self.url):
                self._redis.client().zadd(
                    self.plan.keys.unacked_index, self.plan.renewal(deliveries), xx=True
                )

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move the message to :data:`DEAD_LETTER_QUEUE` atomically (if still leased)."""
        copy = dead_letter_copy(delivery, reason)
        self._end_lease(self.plan.dead_letter(delivery, copy, DEAD_LETTER_QUEUE), delivery, "dead")

    def purge(self, queue: str) -> int:
        """Delete the waiting (and eta-held) messages of ``queue``; return how many."""
        with translate_errors(self.url), self._redis.client().pipeline() as pipe:
            for key in self.plan.queue_keys(queue):
                pipe.llen(key)
                pipe.delete(key)
            pipe.zcard(self.plan.keys.eta(queue))
            pipe.delete(self.plan.keys.eta(queue))
            pipe.zrem(self.plan.keys.eta_index, queue)
            counts = pipe.execute()
        return sum(int(n) for n in counts[:-1:2])

    def size(self, queue: str) -> int:
        """How many messages ``queue`` holds that are not leased, eta-held ones included."""
        with translate_errors(self.url), self._redis.client().pipeline(transaction=False) as pipe:
            for key in self.plan.queue_keys(queue):
                pipe.llen(key)
            pipe.zcard(self.plan.keys.eta(queue))
            return sum(int(n) for n in pipe.execute())

    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        """Up to ``limit`` waiting messages of ``queue`` in delivery order, not leased."""
        found: list[Message] = []
        with translate_errors(self.url):
            for key in self.plan.queue_keys(queue):
                if len(found) >= limit:
                    break
                entries: list[Any] = self._redis.client().lrange(key, -(limit - len(found)), -1)
                found += [self.plan.message(entry) for entry in reversed(entries)]
        return found

    def declare_queue(self, queue: str) -> None:
        """Write the queue's kombu binding (exchange and routing key = queue name)."""
        member = self.plan.binding_member(queue)
        with translate_errors(self.url), self._redis.client().pipeline() as pipe:
            pipe.sadd(self.plan.keys.binding(queue), member)
            pipe.sadd(self.plan.keys.binding_permanent(queue), member)
            pipe.execute()

    # -- asyncio face --------------------------------------------------------------

    async def afetch(self, queues: Sequence[str], *, limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages, waiting up to ``timeout`` for the first.

        Idle, it sends one ``BRPOP`` per ``polling_interval`` (1 s) and nothing else: a
        fetch that follows one that found nothing starts by blocking, not by a take,
        unless an eta or a lease expiry seen by the last take is due.
        """
        return await self._taking.afetch(queues, limit, timeout)

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack several deliveries in one script."""
        if deliveries:
            with translate_errors(self.url):
                lost = await self._aredis.eval("ack", *self.plan.ack(deliveries))
            self.plan.log_lost(lost, deliveries, "ack")

    async def arequeue(self, deliveries: Sequence[Delivery]) -> None:
        """Requeue several deliveries."""
        for delivery in deliveries:
            await self._aend_lease(self.plan.requeue(delivery), delivery, "requeue")

    async def _aend_lease(self, call: Any, delivery: Delivery, why: str) -> None:
        with translate_errors(self.url):
            held = await self._aredis.eval("release", *call)
        self.plan.log_lost([] if held else [1], [delivery], why)

    async def arenew(self, deliveries: Sequence[Delivery]) -> None:
        """Renew several leases in one command."""
        if deliveries:
            with translate_errors(self.url):
                scores = self.plan.renewal(deliveries)
                await (await self._aredis.client()).zadd(
                    self.plan.keys.unacked_index, scores, xx=True
                )

    async def apublish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish from the event loop; a message with an eta is always held broker-side."""
        payload = self.plan.envelope(message, exchange, routing_key)
        with translate_errors(self.url):
            queues = [routing_key]
            if exchange:
                queues = await asyncio.to_thread(
                    publishing.destinations, self._redis, self.plan, exchange, routing_key
                )
            for name, keys, args in self.plan.publish(queues, message, payload, eta):
                await self._aredis.eval(name, keys, args)

    async def adead_letter(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter from the event loop."""
        copy = dead_letter_copy(delivery, reason)
        call = self.plan.dead_letter(delivery, copy, DEAD_LETTER_QUEUE)
        await self._aend_lease(call, delivery, "dead")
