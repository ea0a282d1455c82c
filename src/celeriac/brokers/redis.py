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
import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, final

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from celeriac._internal.naming import mask_url
from celeriac._internal.redis_url import connection_kwargs
from celeriac._internal.tls import use_ssl_value
from celeriac._internal.transport_options import float_option
from celeriac.brokers import _redis_scripts as lua
from celeriac.brokers._redis_idle import IdleWait
from celeriac.brokers._redis_plan import Plan, Popped, RetryPolicy, parse_options
from celeriac.brokers.base import (
    DEAD_LETTER_QUEUE,
    Broker,
    Delivery,
    EventChannel,
    Mailbox,
    Outgoing,
    dead_letter_copy,
)
from celeriac.exceptions import BrokerError, OperationalError
from celeriac.protocol import Message

__all__ = ["RedisBroker", "RetryPolicy"]

logger = logging.getLogger(__name__)

_BATCH = 500  # messages per round trip in publish_many
_LOOK_AGAIN = 60.0  # seconds an idle consumer goes without a take at most
_MIN_BLOCK = 0.1  # below this a BRPOP timeout is rounded up to Redis's 100 ms tick
_SCRIPTS = dict(take=lua.TAKE, publish=lua.PUBLISH, eta=lua.ETA, release=lua.RELEASE, ack=lua.ACK)


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py errors into celeriac's: lost connections are transient."""
    try:
        yield
    except redis.AuthenticationError as exc:
        raise BrokerError(f"Redis at {mask_url(url)} refused the credentials: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise OperationalError(f"Redis at {mask_url(url)} is unreachable: {exc}") from exc
    except redis.RedisError as exc:
        raise BrokerError(f"Redis at {mask_url(url)} failed: {exc}") from exc


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
        self._connection = connection_kwargs(url, use_ssl)
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._aclient: aredis.Redis | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._ascripts: dict[str, Any] = {}
        self._closer: AsyncIterator[None] | None = None
        self._idle = IdleWait(
            self.plan, f"{self.plan.keys.prefix}_celeriac.unblock.{uuid.uuid4().hex}"
        )
        socket_timeout = self._connection.get("socket_timeout")
        self._block_limit = polling_interval
        if socket_timeout:
            self._block_limit = min(polling_interval, float(socket_timeout) / 2)

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

    def _sync(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                retry = Retry(ExponentialBackoff(cap=0.5, base=0.01), 2)
                self._client = redis.Redis(**self._connection, retry=retry)
                self._scripts = {n: self._client.register_script(s) for n, s in _SCRIPTS.items()}
            return self._client

    def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._sync()  # first: it also registers the scripts
        return self._scripts[name](keys=list(keys), args=list(args), client=client)

    async def _async(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            retry = AsyncRetry(ExponentialBackoff(cap=0.5, base=0.01), 2)
            client = aredis.Redis(**self._connection, retry=retry)
            self._aclient, self._aloop = client, loop
            self._ascripts = {n: client.register_script(s) for n, s in _SCRIPTS.items()}
            # asyncio.run() finalizes async generators before closing its loop: this
            # one closes the client's connections then, even if aclose() is never called.
            self._closer = _close_at_loop_end(client)
            await anext(self._closer)
        return self._aclient

    async def _aeval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = await self._async()
        return await self._ascripts[name](keys=list(keys), args=list(args), client=client)

    def open(self) -> None:
        """Prepare the client; it connects on first use (so publishing retries apply)."""
        self._sync()

    def close(self) -> None:
        """Close the blocking face's connections. Safe to call twice."""
        if self._idle.holds:
            try:
                self._idle.give_back(self._sync())
            except redis.RedisError as exc:
                logger.error("Messages popped while waiting could not be pushed back: %s", exc)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aopen(self) -> None:
        """Connect the asyncio face and check that Redis answers."""
        with _translate_errors(self.url):
            await (await self._async()).ping()

    async def aclose(self) -> None:
        """Close both faces' connections."""
        closer, self._closer, self._aclient = self._closer, None, None
        if closer is not None:
            await closer.aclose()  # type: ignore[attr-defined]
        self.close()

    # -- blocking face -------------------------------------------------------------

    def publish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """LPUSH the kombu envelope of ``message`` to its queue (held until ``eta``).

        A named exchange routes through its ``_kombu.binding`` table; one without
        bindings delivers to the queue named ``routing_key``.
        """
        payload = self.plan.envelope(message, exchange, routing_key)
        if not exchange and (eta is None or not self.hold_eta or eta <= time.time()):
            # The common case, without the general path's layers: one EVALSHA.
            keys = self.plan.publish_keys(routing_key, message.priority)
            self.publish_retry.call(lambda: self._publish_one(keys, payload))
            return

        def attempt() -> None:
            with _translate_errors(self.url):
                queues = self._destinations(exchange, routing_key)
                calls = self.plan.publish(queues, message, payload, eta, hold=self.hold_eta)
                for name, keys, args in calls:
                    self._eval(name, keys, args)

        self.publish_retry.call(attempt)

    def _publish_one(self, keys: tuple[str, str], payload: str) -> None:
        client = self._sync()
        with _translate_errors(self.url):
            try:
                client.evalsha(self._scripts["publish"].sha, 2, *keys, payload)
            except redis.exceptions.NoScriptError:
                self._eval("publish", keys, [payload])  # loads the script, then runs it

    def publish_many(self, items: Sequence[Outgoing]) -> None:
        """Publish several messages, :data:`_BATCH` of them per round trip, in order.

        Consecutive messages for the same queue go out in one script call. A batch that
        fails is retried as :meth:`publish` is (so, as there, a message whose reply was
        lost may be sent twice); the batches before it stay sent.
        """
        for start in range(0, len(items), _BATCH):
            chunk = items[start : start + _BATCH]
            payloads = [self.plan.envelope(i.message, i.exchange, i.routing_key) for i in chunk]

            def attempt(chunk: Sequence[Outgoing] = chunk, payloads: list[str] = payloads) -> None:
                with _translate_errors(self.url):
                    routes: dict[tuple[str, str], list[str]] = {}
                    for item in chunk:
                        route = (item.exchange, item.routing_key)
                        if route not in routes:
                            routes[route] = self._destinations(*route)
                    calls = self.plan.publish_many(
                        [
                            (routes[i.exchange, i.routing_key], i.message, payload, i.eta)
                            for i, payload in zip(chunk, payloads, strict=True)
                        ],
                        hold=self.hold_eta,
                    )
                    with self._sync().pipeline(transaction=False) as pipe:
                        for name, keys, args in calls:
                            self._scripts[name](keys=keys, args=args, client=pipe)
                        pipe.execute()

            self.publish_retry.call(attempt)

    def _destinations(self, exchange: str, routing_key: str) -> list[str]:
        if not exchange:
            return [routing_key]
        members = self._sync().smembers(self.plan.keys.binding(exchange))
        return self.plan.route(members, routing_key)

    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        """Lease the next message of ``queues``, waiting up to ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        adopted: Popped | None = None
        with _translate_errors(self.url):
            if self._idle.holds:
                self._idle.give_back(self._sync())
            while True:
                batch, wake_at, expired = self._take(queues, 1, adopted)
                adopted = None  # recorded by that take: it is the batch
                if expired:
                    self._restore_expired()
                if batch:
                    return batch[0]
                wait = self.plan.wait_time(deadline, wake_at, self._block_limit)
                if wait is None:
                    return None
                if wait < _MIN_BLOCK:
                    time.sleep(wait)
                elif not expired:
                    reply = self._sync().brpop(self.plan.block_keys(queues), timeout=wait)
                    adopted = self.plan.popped(reply, queues) if reply else None

    def _take(
        self, queues: Sequence[str], limit: int, adopted: Popped | None
    ) -> tuple[list[Delivery], float | None, bool]:
        keys, args, layout = self.plan.take(queues, limit, adopted)
        try:
            reply = self._eval("take", keys, args)
        except BaseException:
            self._idle.keep(adopted, trouble=True)
            raise
        return self.plan.taken(reply, layout)

    def _restore_expired(self) -> None:
        client = self._sync()
        ceiling = time.time() - self.visibility_timeout
        tags: list[Any] = client.zrangebyscore(
            self.plan.keys.unacked_index, "-inf", ceiling, 0, 100
        )
        if not tags:
            return
        records = client.hmget(self.plan.keys.unacked, tags)
        for tag, record in zip(tags, records, strict=True):
            payload, exchange, routing_key = self.plan.unacked_record(record)
            queues = self._destinations(exchange, routing_key) if payload else []
            keys, args = self.plan.release(tag, payload, queues, "rpush", ceiling)
            if self._eval("release", keys, args):
                logger.warning("Restored unacked message %s to %s", tag, queues)

    def ack(self, delivery: Delivery) -> None:
        """Forget the message, unless its lease was lost (then log a warning)."""
        with _translate_errors(self.url):
            lost = self._eval("ack", *self.plan.ack([delivery]))
        self.plan.log_lost(lost, [delivery], "ack")

    def _end_lease(self, call: tuple[list[str], list[Any]], delivery: Delivery, why: str) -> None:
        with _translate_errors(self.url):
            held = self._eval("release", *call)
        self.plan.log_lost([] if held else [1], [delivery], why)

    def requeue(self, delivery: Delivery) -> None:
        """Put the message back at the tail of its queue, marked redelivered."""
        self._end_lease(self.plan.requeue(delivery), delivery, "requeue")

    def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Move the leases forward so the visibility timeout restarts now."""
        if deliveries:
            with _translate_errors(self.url):
                self._sync().zadd(
                    self.plan.keys.unacked_index, self.plan.renewal(deliveries), xx=True
                )

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move the message to :data:`DEAD_LETTER_QUEUE` atomically (if still leased)."""
        copy = dead_letter_copy(delivery, reason)
        self._end_lease(self.plan.dead_letter(delivery, copy, DEAD_LETTER_QUEUE), delivery, "dead")

    def purge(self, queue: str) -> int:
        """Delete the waiting (and eta-held) messages of ``queue``; return how many."""
        with _translate_errors(self.url), self._sync().pipeline() as pipe:
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
        with _translate_errors(self.url), self._sync().pipeline(transaction=False) as pipe:
            for key in self.plan.queue_keys(queue):
                pipe.llen(key)
            pipe.zcard(self.plan.keys.eta(queue))
            return sum(int(n) for n in pipe.execute())

    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        """Up to ``limit`` waiting messages of ``queue`` in delivery order, not leased."""
        found: list[Message] = []
        with _translate_errors(self.url):
            for key in self.plan.queue_keys(queue):
                if len(found) >= limit:
                    break
                entries: list[Any] = self._sync().lrange(key, -(limit - len(found)), -1)
                found += [self.plan.message(entry) for entry in reversed(entries)]
        return found

    def declare_queue(self, queue: str) -> None:
        """Write the queue's kombu binding (exchange and routing key = queue name)."""
        member = self.plan.binding_member(queue)
        with _translate_errors(self.url), self._sync().pipeline() as pipe:
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
        deadline = time.monotonic() + timeout
        resting = tuple(queues)
        must_take = resting not in self._idle.resting or timeout < _MIN_BLOCK
        wake_at = self._idle.resting.pop(resting, None)
        must_take = must_take or (wake_at is not None and wake_at <= time.time())
        adopted: Popped | None = None
        with _translate_errors(self.url):
            if self._idle.holds:
                await self._idle.agive_back(await self._async())
            while True:
                if must_take or adopted is not None:
                    batch, wake_at, must_take = await self._atake(queues, limit, adopted)
                    # Take again at least every _LOOK_AGAIN seconds, for what no token
                    # announces (another consumer's eta wake-up it took, then died).
                    wake_at = min(wake_at or math.inf, time.time() + _LOOK_AGAIN)
                    adopted = None
                    if must_take:  # leases expired: restore them, then take again
                        await asyncio.to_thread(self._restore_expired)
                    if batch:
                        return batch
                wait = self.plan.wait_time(deadline, wake_at, self._block_limit)
                if wait is None:
                    if not must_take:
                        self._idle.resting[resting] = wake_at
                    return []
                if must_take:
                    continue
                if wait < _MIN_BLOCK:
                    await asyncio.sleep(wait)
                    must_take = wake_at is not None and wake_at <= time.time()
                    continue
                reply = await self._idle.block(await self._async(), queues, wait)
                if reply is not None:
                    adopted = self.plan.popped(reply, queues)
                must_take = reply is not None or (wake_at is not None and wake_at <= time.time())

    async def _atake(
        self, queues: Sequence[str], limit: int, adopted: Popped | None = None
    ) -> tuple[list[Delivery], float | None, bool]:
        """One take, shielded: if the caller is cancelled meanwhile, give the batch back."""
        keys, args, layout = self.plan.take(queues, limit, adopted)
        taking = asyncio.ensure_future(self._aeval("take", keys, args))
        try:
            reply = await asyncio.shield(taking)
        except asyncio.CancelledError:
            taking.add_done_callback(lambda done: self._idle.keep_unless_taken(done, adopted))
            with contextlib.suppress(Exception):
                batch = self.plan.taken(await taking, layout)[0]
                for delivery in batch:
                    await self._aeval("release", *self.plan.give_back(delivery))
            raise
        except BaseException:
            self._idle.keep(adopted, trouble=True)
            raise
        return self.plan.taken(reply, layout)

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack several deliveries in one script."""
        if deliveries:
            with _translate_errors(self.url):
                lost = await self._aeval("ack", *self.plan.ack(deliveries))
            self.plan.log_lost(lost, deliveries, "ack")

    async def arequeue(self, deliveries: Sequence[Delivery]) -> None:
        """Requeue several deliveries."""
        for delivery in deliveries:
            await self._aend_lease(self.plan.requeue(delivery), delivery, "requeue")

    async def _aend_lease(self, call: Any, delivery: Delivery, why: str) -> None:
        with _translate_errors(self.url):
            held = await self._aeval("release", *call)
        self.plan.log_lost([] if held else [1], [delivery], why)

    async def arenew(self, deliveries: Sequence[Delivery]) -> None:
        """Renew several leases in one command."""
        if deliveries:
            with _translate_errors(self.url):
                scores = self.plan.renewal(deliveries)
                await (await self._async()).zadd(self.plan.keys.unacked_index, scores, xx=True)

    async def apublish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish from the event loop; a message with an eta is always held broker-side."""
        payload = self.plan.envelope(message, exchange, routing_key)
        with _translate_errors(self.url):
            queues = [routing_key]
            if exchange:
                queues = await asyncio.to_thread(self._destinations, exchange, routing_key)
            for name, keys, args in self.plan.publish(queues, message, payload, eta):
                await self._aeval(name, keys, args)

    async def adead_letter(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter from the event loop."""
        copy = dead_letter_copy(delivery, reason)
        call = self.plan.dead_letter(delivery, copy, DEAD_LETTER_QUEUE)
        await self._aend_lease(call, delivery, "dead")


async def _close_at_loop_end(client: aredis.Redis) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await client.aclose()
