"""Remote control and events on RabbitMQ, declared exactly as kombu declares them.

Commands go to the fanout exchange ``celery.pidbox``; each worker reads its own queue
``<node>.celery.pidbox`` bound to it. Replies go to the direct exchange
``reply.celery.pidbox`` with the client's reply key, into ``<oid>.reply.celery.pidbox``.
Events go to the topic exchange ``celeryev``; a receiver reads its own queue
``celeryev.<uuid>`` bound with ``#``. Durable revokes are messages in the queue
``celeriac.revoked`` that expire by themselves. Declarations match kombu's (non-durable
pidbox exchanges, a durable ``celeryev``), so Celery peers share them without
conflict. Reading polls ``basic.get`` (at most every 50 ms) on the broker's
connection thread.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, final

import aiormq
from pamqp.commands import Basic

from celeriac.brokers._amqp_topology import ExchangeSpec, QueueSpec
from celeriac.brokers.base import REVOKE_TTL, EventChannel, Mailbox
from celeriac.serialization import json_dumps, json_loads

if TYPE_CHECKING:
    from celeriac.brokers._amqp_client import Session
    from celeriac.brokers.amqp import AmqpBroker

__all__ = ["AmqpEventChannel", "AmqpMailbox"]

T = TypeVar("T")
PIDBOX = ExchangeSpec("celery.pidbox", "fanout", durable=False)
REPLIES = ExchangeSpec("reply.celery.pidbox", "direct", durable=False)
EVENTS = ExchangeSpec("celeryev", "topic", durable=True)
REVOKED_QUEUE = "celeriac.revoked"
_PIDBOX_ARGS = {"x-message-ttl": 300_000, "x-expires": 10_000}
_POLL = 0.05


def _properties(headers: dict[str, Any], delivery_mode: int, **extra: Any) -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_mode=delivery_mode,
        **extra,
    )


def _deadline(value: float | None) -> int:
    """A unix deadline as a whole second, rounded up (0 for none).

    pamqp sends a float in single precision, minutes off at today's timestamps, and an
    AMQP decimal's mantissa is too small for milliseconds; Celery compares ints fine.
    """
    return math.ceil(value) if value else 0


def _decode(message: aiormq.abc.DeliveredMessage) -> tuple[Any, dict[str, Any]]:
    headers = dict(message.header.properties.headers or {})
    return json_loads(bytes(message.body).decode("utf-8")), headers


class _AmqpPart:
    """What the mailbox and the event channel share: the broker's session and thread."""

    def __init__(self, broker: AmqpBroker) -> None:
        self.broker = broker

    def _session(self) -> Session:
        return self.broker._parts()[0]

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.broker._run(coro, "remote control")

    async def _arun(self, coro: Coroutine[Any, Any, T]) -> T:
        return await self.broker._arun(coro, "remote control")

    async def _get_all(self, queue: str) -> list[tuple[Any, dict[str, Any]]]:
        """Take every ready message from ``queue`` (acked as taken)."""
        channel = await self._session().channel("admin")
        found: list[tuple[Any, dict[str, Any]]] = []
        while True:
            message = await channel.basic_get(queue, no_ack=True)
            if not isinstance(message.delivery, Basic.GetOk):
                return found
            try:
                found.append(_decode(message))
            except ValueError:
                continue

    async def _poll(self, queue: str, timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while True:
            found = await self._get_all(queue)
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(_POLL, max(deadline - time.monotonic(), 0.0)))

    def close(self) -> None:
        """Nothing of its own to close: the broker owns the connection."""


@final
class AmqpMailbox(_AmqpPart, Mailbox):
    """Celery's pidbox on RabbitMQ."""

    def __init__(self, broker: AmqpBroker) -> None:
        super().__init__(broker)
        self._listening: set[str] = set()

    def prepare_replies(self, reply_key: str) -> dict[str, str]:
        """Declare the client's reply queue, bound to the reply exchange."""
        spec = QueueSpec(
            f"{reply_key}.reply.celery.pidbox",
            REPLIES,
            reply_key,
            durable=False,
            auto_delete=True,
            arguments=dict(_PIDBOX_ARGS),
        )
        self._run(self._session().declare_queue(spec))
        return {"exchange": REPLIES.name, "routing_key": reply_key}

    def release_replies(self, reply_key: str) -> None:
        """The reply queue deletes itself when unused (``x-expires``)."""

    def broadcast(self, command: dict[str, Any], *, expires: float | None = None) -> None:
        """Publish the command on the pidbox fanout exchange."""
        properties = _properties({"clock": 0, "expires": _deadline(expires)}, 2)

        async def send() -> None:
            session = self._session()
            await session.declare_exchange(PIDBOX)
            await session.publish(
                json_dumps(command).encode(),
                exchange=PIDBOX.name,
                routing_key="",
                properties=properties,
            )

        self._run(send())

    def collect(
        self, reply_key: str, ticket: str, *, timeout: float, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Replies to ``ticket`` until ``timeout`` passes or ``limit`` arrived."""
        queue = f"{reply_key}.reply.celery.pidbox"
        deadline = time.monotonic() + timeout
        replies: list[dict[str, Any]] = []
        while limit is None or len(replies) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for body, headers in self._run(self._poll(queue, min(remaining, 0.25))):
                if headers.get("ticket") == ticket and isinstance(body, dict):
                    replies.append(body)
        return replies[:limit] if limit is not None else replies

    async def afetch_commands(self, node: str, *, timeout: float) -> list[dict[str, Any]]:
        """Commands since the last call (the first call declares the node's queue)."""
        queue = f"{node}.celery.pidbox"
        if node not in self._listening:
            spec = QueueSpec(
                queue, PIDBOX, "", durable=False, auto_delete=True, arguments=dict(_PIDBOX_ARGS)
            )
            await self._arun(self._session().declare_queue(spec))
            self._listening.add(node)
            return []
        now = time.time()
        commands = []
        for body, headers in await self._arun(self._poll(queue, timeout)):
            expires = headers.get("expires") or 0
            if isinstance(body, dict) and (not expires or float(expires) > now):
                commands.append(body)
        return commands

    async def areply(self, reply_to: dict[str, Any], ticket: str, node: str, reply: Any) -> None:
        """Publish ``{node: reply}`` to the client's reply exchange and key."""
        properties = _properties({"ticket": ticket, "clock": 0}, 1)

        async def send() -> None:
            session = self._session()
            await session.declare_exchange(REPLIES)
            await session.publish(
                json_dumps({node: reply}).encode(),
                exchange=str(reply_to.get("exchange") or REPLIES.name),
                routing_key=str(reply_to.get("routing_key") or ""),
                properties=properties,
            )

        await self._arun(send())

    def store_revoked(self, task_ids: Sequence[str], *, ttl: float = REVOKE_TTL) -> None:
        """Keep each revoke as a message that expires after ``ttl`` seconds."""
        if ttl <= 0:
            return  # already expired: nothing to remember

        async def send() -> None:
            session = self._session()
            await session.declare_queue(QueueSpec(REVOKED_QUEUE, None))
            for task_id in task_ids:
                properties = _properties(
                    {"expires": _deadline(time.time() + ttl)}, 2, expiration=str(int(ttl * 1000))
                )
                await session.publish(
                    json_dumps(task_id).encode(),
                    exchange="",
                    routing_key=REVOKED_QUEUE,
                    properties=properties,
                )

        self._run(send())

    def load_revoked(self) -> dict[str, float]:
        """The revokes that have not expired (read without removing them)."""

        async def browse() -> dict[str, float]:
            session = self._session()
            await session.declare_queue(QueueSpec(REVOKED_QUEUE, None))
            channel = await session.channel("admin")
            found: dict[str, float] = {}
            tags = []
            while True:
                message = await channel.basic_get(REVOKED_QUEUE, no_ack=False)
                if not isinstance(message.delivery, Basic.GetOk):
                    break
                tags.append(int(message.delivery.delivery_tag or 0))
                body, headers = _decode(message)
                found[str(body)] = float(headers.get("expires") or 0)
            for tag in tags:  # back in the queue, for the next worker to read too
                await channel.basic_reject(tag, requeue=True)
            return found

        now = time.time()
        return {k: v for k, v in self._run(browse()).items() if v > now}


@final
class AmqpEventChannel(_AmqpPart, EventChannel):
    """Celery's ``celeryev`` topic exchange on RabbitMQ."""

    def __init__(self, broker: AmqpBroker) -> None:
        super().__init__(broker)
        self._queues: dict[str, str] = {}

    def publish(self, routing_key: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Publish the event (or batch) under its routing key."""
        first = event[0] if isinstance(event, list) and event else event
        hostname = first.get("hostname") if isinstance(first, dict) else None
        properties = _properties({"hostname": hostname}, 1)

        async def send() -> None:
            session = self._session()
            await session.declare_exchange(EVENTS)
            await session.publish(
                json_dumps(event).encode(),
                exchange=EVENTS.name,
                routing_key=routing_key,
                properties=properties,
            )

        self._run(send())

    def receive(
        self, *, timeout: float, routing_key: str = "#"
    ) -> list[dict[str, Any] | list[dict[str, Any]]]:
        """Events since the last call (the first call declares this receiver's queue)."""
        queue = self._queues.get(routing_key)
        if queue is None:
            queue = f"celeryev.{uuid.uuid4()}"
            spec = QueueSpec(
                queue,
                EVENTS,
                routing_key,
                durable=False,
                auto_delete=True,
                arguments={"x-message-ttl": 5_000, "x-expires": 60_000},
            )
            self._run(self._session().declare_queue(spec))
            self._queues[routing_key] = queue
        return [
            body
            for body, _ in self._run(self._poll(queue, timeout))
            if isinstance(body, dict | list)
        ]
