"""Remote control and events on Redis, in kombu's formats (wire spec sections 6 and 7).

Commands go out on the fanout channel ``/<db>.celery.pidbox`` (PUB/SUB) as kombu
envelopes; a worker subscribes to it and records its binding in
``_kombu.binding.celery.pidbox``. A client records its reply binding in
``_kombu.binding.reply.celery.pidbox`` first; workers resolve the reply through that
table and LPUSH to ``<oid>.reply.celery.pidbox``, which the client BRPOPs. Events are
published on ``/<db>.celeryev/<routing key>`` and received with ``PSUBSCRIBE``. With a
``global_keyprefix`` every key and channel carries it. So Celery's ``inspect``, its
workers, ``celery events`` and Flower all talk with celeriac here.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any, final

import redis

from celeriac.brokers._redis_wire import KeySpace, encode_envelope, match_bindings
from celeriac.brokers._topic import topic_matches, topic_to_glob
from celeriac.brokers.base import REVOKE_TTL, EventChannel, Mailbox
from celeriac.exceptions import BrokerError, DecodeError, OperationalError
from celeriac.protocol import Message
from celeriac.serialization import json_dumps, json_loads

__all__ = ["RedisEventChannel", "RedisMailbox"]

PIDBOX = "celery.pidbox"
REPLY_EXCHANGE = "reply.celery.pidbox"
EVENTS = "celeryev"


@contextlib.contextmanager
def _errors(url: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise OperationalError(f"lost the connection to Redis at {url}: {exc}") from exc
    except redis.RedisError as exc:
        raise BrokerError(f"Redis error at {url}: {exc}") from exc


def _envelope(
    body: Any, headers: dict[str, Any], exchange: str, routing_key: str, delivery_mode: int
) -> str:
    message = Message(
        json_dumps(body).encode("utf-8"),
        headers,
        {"delivery_mode": delivery_mode, "priority": 0},
        "application/json",
        "utf-8",
    )
    return encode_envelope(message, exchange, routing_key)


def _open_envelope(raw: bytes | str) -> tuple[Any, dict[str, Any], str]:
    """(decoded body, headers, routing key) of a kombu envelope holding JSON."""
    envelope = json_loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    if not isinstance(envelope, dict):
        raise DecodeError("not a kombu envelope")
    body = envelope.get("body", "")
    properties = envelope.get("properties") or {}
    if properties.get("body_encoding") == "base64":
        body = base64.b64decode(body).decode("utf-8")
    delivery = properties.get("delivery_info") or {}
    routing_key = str(delivery.get("routing_key") or "") if isinstance(delivery, dict) else ""
    return json_loads(body), dict(envelope.get("headers") or {}), routing_key


class _RedisPart:
    """What the mailbox and the event channel share: a client, keys, the database."""

    def __init__(self, *, url: str, connection: dict[str, Any], keys: KeySpace) -> None:
        self.url = url
        self.keys = keys
        self.db = int(connection.get("db") or 0)
        self._client = redis.Redis(**connection)
        self._pubsubs: dict[str, Any] = {}

    def channel(self, exchange: str, routing_key: str = "") -> str:
        """The fanout channel name kombu uses (with the key prefix)."""
        suffix = f"/{routing_key}" if routing_key else ""
        return f"{self.keys.prefix}/{self.db}.{exchange}{suffix}"

    def _subscribe(self, listener: str, pattern: str) -> Any:
        """``listener``'s subscription to ``pattern``, made (and confirmed) on first use."""
        pubsub = self._pubsubs.get(listener)
        if pubsub is None:
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            pubsub.psubscribe(pattern)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # listening only once Redis says so
                item = pubsub.get_message(timeout=0.1)
                if item is not None and item.get("type") == "psubscribe":
                    break
            self._pubsubs[listener] = pubsub
        return pubsub

    def _drain(self, listener: str, pattern: str, timeout: float) -> list[bytes]:
        """Messages on ``pattern`` arriving within ``timeout`` (at least the first)."""
        pubsub = self._subscribe(listener, pattern)
        found: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            item = pubsub.get_message(timeout=max(remaining, 0.0) if not found else 0.0)
            if item is None:
                if found or remaining <= 0:
                    return found
                continue
            if item.get("type") in ("message", "pmessage"):
                found.append(item["data"])

    def close(self) -> None:
        """Unsubscribe and close the connections."""
        pubsubs, self._pubsubs = self._pubsubs, {}
        for pubsub in pubsubs.values():
            with contextlib.suppress(redis.RedisError, OSError, ValueError):
                pubsub.close()
        self._client.close()


@final
class RedisMailbox(_RedisPart, Mailbox):
    """Celery's pidbox on Redis."""

    def _reply_member(self, reply_key: str) -> str:
        return self.keys.sep.join([reply_key, "", f"{reply_key}.{REPLY_EXCHANGE}"])

    def prepare_replies(self, reply_key: str) -> dict[str, str]:
        """Bind the client's reply queue before any command goes out."""
        with _errors(self.url):
            self._client.sadd(self.keys.binding(REPLY_EXCHANGE), self._reply_member(reply_key))
        return {"exchange": REPLY_EXCHANGE, "routing_key": reply_key}

    def release_replies(self, reply_key: str) -> None:
        """Unbind the reply queue and drop what is left in it."""
        with _errors(self.url):
            self._client.srem(self.keys.binding(REPLY_EXCHANGE), self._reply_member(reply_key))
            self._client.delete(self.keys.list_key(f"{reply_key}.{REPLY_EXCHANGE}"))

    def broadcast(self, command: dict[str, Any], *, expires: float | None = None) -> None:
        """PUBLISH the command on the pidbox fanout channel."""
        envelope = _envelope(command, {"clock": 0, "expires": expires or 0}, PIDBOX, "", 2)
        with _errors(self.url):
            self._client.publish(self.channel(PIDBOX), envelope)

    def collect(
        self, reply_key: str, ticket: str, *, timeout: float, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """BRPOP the reply queue until ``timeout`` or ``limit`` replies to ``ticket``."""
        queue = self.keys.list_key(f"{reply_key}.{REPLY_EXCHANGE}")
        deadline = time.monotonic() + timeout
        replies: list[dict[str, Any]] = []
        with _errors(self.url):
            while limit is None or len(replies) < limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                popped = self._client.brpop([queue], timeout=max(remaining, 0.01))
                if popped is None:
                    break
                try:
                    body, headers, _ = _open_envelope(popped[1])
                except (DecodeError, ValueError):
                    continue
                if headers.get("ticket") == ticket and isinstance(body, dict):
                    replies.append(body)
        return replies

    async def afetch_commands(self, node: str, *, timeout: float) -> list[dict[str, Any]]:
        """Commands published since the last call (the first call starts listening)."""
        import asyncio

        return await asyncio.to_thread(self._fetch_commands, node, timeout)

    def _fetch_commands(self, node: str, timeout: float) -> list[dict[str, Any]]:
        with _errors(self.url):
            if node not in self._pubsubs:
                member = self.keys.sep.join(["", "", f"{node}.{PIDBOX}"])
                self._client.sadd(self.keys.binding(PIDBOX), member)
            raw = self._drain(node, self.channel(PIDBOX), timeout)
        commands = []
        now = time.time()
        for item in raw:
            try:
                body, headers, _ = _open_envelope(item)
            except (DecodeError, ValueError):
                continue
            expires = headers.get("expires") or 0
            if isinstance(body, dict) and (not expires or float(expires) > now):
                commands.append(body)
        return commands

    async def areply(self, reply_to: dict[str, Any], ticket: str, node: str, reply: Any) -> None:
        """LPUSH ``{node: reply}`` to every queue the reply binding names."""
        import asyncio

        await asyncio.to_thread(self._reply, reply_to, ticket, node, reply)

    def _reply(self, reply_to: dict[str, Any], ticket: str, node: str, reply: Any) -> None:
        exchange = str(reply_to.get("exchange") or REPLY_EXCHANGE)
        routing_key = str(reply_to.get("routing_key") or "")
        envelope = _envelope(
            {node: reply}, {"ticket": ticket, "clock": 0}, exchange, routing_key, 1
        )
        with _errors(self.url):
            members = self._client.smembers(self.keys.binding(exchange))
            for queue in match_bindings(members, routing_key, self.keys.sep):
                self._client.lpush(self.keys.list_key(queue), envelope)

    def store_revoked(self, task_ids: Sequence[str], *, ttl: float = REVOKE_TTL) -> None:
        """Remember revoked ids in a sorted set scored by expiry."""
        now = time.time()
        key = f"{self.keys.prefix}_celeriac.revoked"
        with _errors(self.url), self._client.pipeline() as pipe:
            pipe.zadd(key, {task_id: now + ttl for task_id in task_ids})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.execute()

    def load_revoked(self) -> dict[str, float]:
        """Revoked ids that have not expired."""
        key = f"{self.keys.prefix}_celeriac.revoked"
        with _errors(self.url):
            rows: Any = self._client.zrangebyscore(key, time.time(), "+inf", withscores=True)
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in rows}


@final
class RedisEventChannel(_RedisPart, EventChannel):
    """Celery's ``celeryev`` fanout on Redis PUB/SUB."""

    def publish(self, routing_key: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """PUBLISH the event (or batch) on ``/<db>.celeryev/<routing key>``."""
        first = event[0] if isinstance(event, list) and event else event
        hostname = first.get("hostname") if isinstance(first, dict) else None
        envelope = _envelope(event, {"hostname": hostname}, EVENTS, routing_key, 1)
        with _errors(self.url):
            self._client.publish(self.channel(EVENTS, routing_key), envelope)

    def receive(
        self, *, timeout: float, routing_key: str = "#"
    ) -> list[dict[str, Any] | list[dict[str, Any]]]:
        """Events published since the last call (the first call starts listening).

        Redis sends what matches the pattern's glob, which admits a little more than the
        pattern (its ``*`` crosses dots); the rest is checked here.
        """
        pattern = self.channel(EVENTS, topic_to_glob(routing_key))
        everything = routing_key == "#"
        with _errors(self.url):
            raw = self._drain(f"events {routing_key}", pattern, timeout)
        events: list[dict[str, Any] | list[dict[str, Any]]] = []
        for item in raw:
            try:
                body, _, key = _open_envelope(item)
            except (DecodeError, ValueError):
                continue
            if isinstance(body, dict | list) and (everything or topic_matches(routing_key, key)):
                events.append(body)
        return events
