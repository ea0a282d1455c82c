"""What the Redis broker sends and how it reads the replies, without doing any I/O.

:class:`Plan` turns broker operations into (script, keys, arguments) triples for the
scripts of :mod:`celeriac.brokers._redis_scripts`, and script replies into
:class:`~celeriac.brokers.base.Delivery` objects, so the blocking and the asyncio faces
of :class:`~celeriac.brokers.redis.RedisBroker` share every decision and differ only in
how they call Redis.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from celeriac.brokers._redis_wire import (
    KeySpace,
    binding_member,
    decode_delivery,
    encode_envelope,
    match_bindings,
    redelivered,
)
from celeriac.brokers.base import Delivery
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol import Message

__all__ = ["Plan"]

logger = logging.getLogger(__name__)

Call = tuple[str, list[str], list[Any]]
#: (destination queues, message, its envelope, eta) of one message to publish.
Outgoing = tuple[Sequence[str], Message, str, float | None]
#: A message a blocking pop took off a list: (list key, envelope).
Popped = tuple[str, bytes]
_PER_CALL = 500  # envelopes per publish script call (Lua's unpack has a stack limit)
_KEY_CACHE = 1024  # (queue, priority) pairs whose keys publish_keys remembers
_STRATEGIES = ("round_robin", "sorted", "priority")
_NO_CEILING = "1e300"


class Plan:
    """Keys, script arguments and reply parsing for one broker's settings."""

    def __init__(
        self,
        *,
        prefix: str,
        sep: str,
        steps: tuple[int, ...],
        strategy: str,
        visibility_timeout: float,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ImproperlyConfigured(
                f"queue_order_strategy must be one of {', '.join(_STRATEGIES)}, not {strategy!r}"
            )
        self.keys = KeySpace(prefix, sep, steps)
        self.strategy = strategy
        self.visibility_timeout = visibility_timeout
        self._orders: dict[tuple[str, ...], list[str]] = {}
        self._publish_keys: dict[tuple[str, int], tuple[str, str]] = {}
        self._lock = threading.Lock()

    # -- publishing ----------------------------------------------------------------

    def envelope(self, message: Message, exchange: str, routing_key: str) -> str:
        """The kombu envelope of ``message``."""
        return encode_envelope(message, exchange, routing_key)

    def route(self, members: Iterable[bytes | str], routing_key: str) -> list[str]:
        """Queues a binding table sends ``routing_key`` to (the queue of that name if none)."""
        return match_bindings(members, routing_key, self.keys.sep) or [routing_key]

    def publish(
        self,
        queues: Sequence[str],
        message: Message,
        payload: str,
        eta: float | None,
        *,
        hold: bool = True,
    ) -> list[Call]:
        """The script calls that publish ``payload`` to ``queues`` (held until ``eta``)."""
        return self.publish_many([(queues, message, payload, eta)], hold=hold)

    def publish_keys(self, queue: str, priority: int) -> tuple[str, str]:
        """The list and wake-up key a message of ``priority`` goes to in ``queue``."""
        found = self._publish_keys.get((queue, priority))
        if found is None:
            found = (self.keys.list_key(queue, self.keys.bucket(priority)), self.keys.wake(queue))
            if len(self._publish_keys) < _KEY_CACHE:
                self._publish_keys[queue, priority] = found
        return found

    def publish_many(self, items: Sequence[Outgoing], *, hold: bool = True) -> list[Call]:
        """The script calls that publish several (queues, message, payload, eta), in order.

        Consecutive messages bound for the same lists share one call.
        """
        calls: list[Call] = []
        now = time.time()
        shared: list[str] | None = None
        for queues, message, payload, eta in items:
            if hold and eta is not None and eta > now:
                bucket = self.keys.bucket(message.priority)
                calls += [
                    (
                        "eta",
                        [
                            self.keys.eta(queue),
                            self.keys.eta_index,
                            self.keys.wake(queue),
                            self.keys.eta_wake,
                        ],
                        [repr(eta), f"{bucket}:{payload}", queue],
                    )
                    for queue in queues
                ]
                shared = None
                continue
            keys: list[str] = []
            for queue in queues:
                keys += self.publish_keys(queue, message.priority)
            if keys == shared and len(calls[-1][2]) < _PER_CALL:
                calls[-1][2].append(payload)
            else:
                calls.append(("publish", keys, [payload]))
                shared = keys
        return calls

    # -- taking ----------------------------------------------------------------------

    def _ordered(self, queues: Sequence[str]) -> list[str]:
        unique = list(dict.fromkeys(queues))
        if self.strategy == "sorted":
            return sorted(unique)
        if self.strategy == "priority":
            return unique
        with self._lock:
            return list(self._orders.setdefault(tuple(unique), unique))

    def _rotate(self, queues: Sequence[str], served: str) -> None:
        if self.strategy != "round_robin":
            return
        with self._lock:
            order = self._orders.get(tuple(dict.fromkeys(queues)))
            if order is not None and served in order:
                order.remove(served)
                order.append(served)

    def take(
        self, queues: Sequence[str], limit: int, adopted: Popped | None = None
    ) -> tuple[list[str], list[Any], Any]:
        """Keys and arguments of a take of up to ``limit`` messages from ``queues``.

        ``adopted`` is a message a blocking pop took from one of their lists: the take
        records it first (see :meth:`popped`).
        """
        layout = self.keys.consume_order(self._ordered(queues))
        lists = [self.keys.list_key(queue, bucket) for queue, bucket in layout]
        keys = [self.keys.unacked, self.keys.unacked_index, self.keys.eta_index, *lists]
        position, payload = 0, b""
        if adopted is not None:
            position, payload = lists.index(adopted[0]) + 1, adopted[1]
        args: list[Any] = [repr(time.time()), max(limit, 1), uuid.uuid4().hex]
        args += [self.keys.prefix, self.keys.sep, position, payload]
        args += [queue for queue, _ in layout]
        return keys, args, (list(queues), layout)

    def block_keys(self, queues: Sequence[str]) -> list[str]:
        """What an idle consumer of ``queues`` blocks on: wake-up keys first, then lists.

        The wake-up keys are the queues' and the one an eta publish pushes to.

        ``BRPOP`` serves the first non-empty key in this order, and a celeriac publisher
        pushes the token before the message, so messages from celeriac clients are left
        for the (atomic) take; the lists catch what Celery clients push without a token.
        """
        ordered = self._ordered(queues)
        keys = [self.keys.wake(queue) for queue in ordered] + [self.keys.eta_wake]
        return keys + [
            self.keys.list_key(q, bucket) for q, bucket in self.keys.consume_order(ordered)
        ]

    def popped(self, reply: Any, queues: Sequence[str]) -> Popped | None:
        """The message a ``BRPOP`` reply holds (list key, envelope); ``None`` for a token.

        Anything popped from a key that is not one of the lists of ``queues`` (a wake-up
        key, the consumer's own unblock key) is a token.
        """
        key = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        ordered = self.keys.consume_order(list(dict.fromkeys(queues)))
        if key not in {self.keys.list_key(queue, bucket) for queue, bucket in ordered}:
            return None
        payload = reply[1] if isinstance(reply[1], bytes) else str(reply[1]).encode()
        return key, payload

    def taken(self, reply: Any, layout: Any) -> tuple[list[Delivery], float | None, bool]:
        """Deliveries of a take, when to look again (unix time), and whether leases expired."""
        queues, pairs = layout
        next_eta, oldest = reply[0], reply[1]
        deliveries = []
        for i in range(2, len(reply), 3):
            queue, bucket = pairs[int(reply[i]) - 1]
            tag = reply[i + 1].decode() if isinstance(reply[i + 1], bytes) else str(reply[i + 1])
            deliveries.append(decode_delivery(reply[i + 2], queue=queue, bucket=bucket, tag=tag))
        if deliveries:
            self._rotate(queues, deliveries[-1].queue)
        moments = []
        if next_eta is not None:
            moments.append(float(next_eta))
        expired = False
        if oldest is not None:
            lease_end = float(oldest) + self.visibility_timeout
            expired = lease_end <= time.time()
            moments.append(lease_end)
        return deliveries, min(moments, default=None), expired

    @staticmethod
    def wait_time(deadline: float | None, wake_at: float | None, polling: float) -> float | None:
        """Seconds to wait before the next take; ``None`` once ``deadline`` has passed."""
        wait = polling
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait = min(wait, remaining)
        if wake_at is not None:
            wait = min(wait, max(wake_at - time.time(), 0.001))
        return wait

    def wake_keys(self, queues: Sequence[str]) -> list[str]:
        """The wake-up keys an idle consumer of ``queues`` blocks on."""
        return [self.keys.wake(queue) for queue in dict.fromkeys(queues)]

    def message(self, entry: bytes | str) -> Message:
        """The message of a raw list entry (for ``peek``)."""
        raw = entry.encode() if isinstance(entry, str) else entry
        return decode_delivery(raw, queue="", bucket=0, tag="").message

    # -- ending leases ---------------------------------------------------------------

    def ack(self, deliveries: Sequence[Delivery]) -> tuple[list[str], list[Any]]:
        """Keys and arguments of the ack script."""
        return [self.keys.unacked, self.keys.unacked_index], [d.tag for d in deliveries]

    @staticmethod
    def renewal(deliveries: Sequence[Delivery]) -> dict[str, float]:
        """New ``unacked_index`` scores for held leases."""
        now = time.time()
        return {str(delivery.tag): now for delivery in deliveries}

    def release(
        self, tag: Any, payload: str, queues: Sequence[str], mode: str, ceiling: Any
    ) -> tuple[list[str], list[Any]]:
        """End lease ``tag`` and push ``payload`` to bucket lists of ``queues``."""
        keys = [self.keys.unacked, self.keys.unacked_index]
        bucket = self._bucket_of(payload)
        for queue in queues:
            keys += [self.keys.list_key(queue, bucket), self.keys.wake(queue)]
        return keys, [tag, payload, mode, repr(ceiling) if isinstance(ceiling, float) else ceiling]

    def _bucket_of(self, payload: str) -> int:
        try:
            return self.keys.bucket(json.loads(payload)["properties"].get("priority"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return 0

    def _same_list(
        self, delivery: Delivery, payload: str, mode: str
    ) -> tuple[list[str], list[Any]]:
        keys = [self.keys.unacked, self.keys.unacked_index]
        keys += [
            self.keys.list_key(delivery.queue, int(delivery.extra.get("bucket", 0))),
            self.keys.wake(delivery.queue),
        ]
        return keys, [delivery.tag, payload, mode, _NO_CEILING]

    def requeue(self, delivery: Delivery) -> tuple[list[str], list[Any]]:
        """Back to the tail of its list, marked redelivered (kombu's reject with requeue)."""
        return self._same_list(delivery, redelivered(delivery.extra["payload"]), "lpush")

    def give_back(self, delivery: Delivery) -> tuple[list[str], list[Any]]:
        """Back to the head of its list, unchanged: it never reached the consumer."""
        return self._same_list(delivery, delivery.extra["payload"], "rpush")

    def dead_letter(
        self, delivery: Delivery, copy: Message, queue: str
    ) -> tuple[list[str], list[Any]]:
        """Replace the leased message by ``copy`` at the tail of ``queue``."""
        payload = encode_envelope(copy, "", queue)
        return self.release(delivery.tag, payload, [queue], "lpush", _NO_CEILING)

    def unacked_record(self, record: bytes | str | None) -> tuple[str, str, str]:
        """(redelivered envelope, exchange, routing key) of an ``unacked`` hash value.

        The envelope is ``""`` when the record is gone or unreadable.
        """
        if record is None:
            return "", "", ""
        try:
            envelope, exchange, routing_key = json.loads(record)
        except (ValueError, TypeError):
            return "", "", ""
        text = envelope if isinstance(envelope, str) else json.dumps(envelope)
        return redelivered(text), str(exchange or ""), str(routing_key or "")

    def log_lost(self, lost: Sequence[Any], deliveries: Sequence[Delivery], action: str) -> None:
        """Warn about each delivery (by 1-based position) whose lease was lost."""
        for position in lost:
            delivery = deliveries[int(position) - 1]
            logger.warning(
                "%s of message %s from queue %r ignored: its lease ran out and it was"
                " delivered again, or it was already acked",
                action,
                delivery.message.headers.get("id") or delivery.tag,
                delivery.queue,
            )

    # -- queues ------------------------------------------------------------------------

    def queue_keys(self, queue: str) -> list[str]:
        """The bucket lists of ``queue``, in the order they are consumed."""
        return [self.keys.list_key(queue, step) for step in self.keys.steps]

    def binding_member(self, queue: str) -> str:
        """The binding kombu writes for a queue bound to its own exchange."""
        return binding_member(queue, queue, self.keys.sep)
