"""kombu's Redis wire format: the message envelope, key names, priorities and bindings.

Pure functions, no client library: :mod:`celeriac.brokers.redis` does the I/O.

Envelope (one JSON document per message, as kombu 5.x stores it)::

    {"body": "<base64>", "content-encoding": "utf-8", "content-type": "application/json",
     "headers": {...},
     "properties": {"correlation_id": ..., "reply_to": ..., "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": "celery"},
                    "priority": 0, "body_encoding": "base64", "delivery_tag": "<uuid4>"}}

``delivery_info``, ``body_encoding`` and ``delivery_tag`` are transport fields: they are
added when publishing and removed again when a message is read back, as is the
``redelivered`` flag kombu sets in ``headers`` and ``delivery_info`` when it restores a
message (celeriac reports it as :attr:`Delivery.redelivered`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from celeriac._internal.ids import uuid4_text
from celeriac.brokers.base import Delivery
from celeriac.exceptions import DecodeError, EncodeError, ImproperlyConfigured
from celeriac.protocol import Message
from celeriac.serialization import json_dumps, json_loads

__all__ = [
    "DEFAULT_PRIORITY_STEPS",
    "DEFAULT_SEP",
    "UNREADABLE",
    "KeySpace",
    "binding_member",
    "decode_delivery",
    "encode_envelope",
    "match_bindings",
    "redelivered",
]

DEFAULT_SEP = "\x06\x16"
DEFAULT_PRIORITY_STEPS = (0, 3, 6, 9)
#: Content type given to a list entry that is not a kombu envelope (it is dead-lettered).
UNREADABLE = "application/x-celeriac-unreadable"

_TRANSPORT_PROPERTIES = ("delivery_info", "body_encoding", "delivery_tag")
_MAX_PRIORITY = 9


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Key names under a ``global_keyprefix``, and kombu's priority buckets.

    Attributes:
        prefix: Prepended verbatim to every key (kombu's ``global_keyprefix``).
        sep: Separator between a queue name and its priority bucket.
        steps: Priority buckets; a message goes to the highest step <= its priority.
    """

    prefix: str = ""
    sep: str = DEFAULT_SEP
    steps: tuple[int, ...] = DEFAULT_PRIORITY_STEPS

    def __post_init__(self) -> None:
        if not self.steps or list(self.steps) != sorted(set(self.steps)) or self.steps[0] != 0:
            raise ImproperlyConfigured(
                f"priority_steps must be increasing and start at 0, not {list(self.steps)}"
            )

    def bucket(self, priority: Any) -> int:
        """The bucket of a message priority (clamped to 0..9; lower is served first)."""
        try:
            value = min(max(int(priority), 0), _MAX_PRIORITY)
        except (TypeError, ValueError):
            value = 0
        return self.steps[bisect.bisect(self.steps, value) - 1]

    def list_key(self, queue: str, bucket: int = 0) -> str:
        """The list holding ``queue``'s messages of one bucket."""
        name = self.prefix + queue
        return f"{name}{self.sep}{bucket}" if bucket else name

    def consume_order(self, queues: Sequence[str]) -> list[tuple[str, int]]:
        """(queue, bucket) pairs in the order kombu reads them: every bucket 0 first."""
        return [(queue, step) for step in self.steps for queue in queues]

    @property
    def unacked(self) -> str:
        """The hash of unacked envelopes."""
        return self.prefix + "unacked"

    @property
    def unacked_index(self) -> str:
        """The sorted set of unacked lease tags, scored by delivery time."""
        return self.prefix + "unacked_index"

    @property
    def eta_index(self) -> str:
        """The sorted set of queues with held eta messages, scored by the earliest."""
        return self.prefix + "_celeriac.eta"

    @property
    def eta_wake(self) -> str:
        """The wake-up token list every idle consumer blocks on: an eta was held."""
        return self.prefix + "_celeriac.wake_eta"

    def eta(self, queue: str) -> str:
        """The sorted set of ``queue``'s held eta messages."""
        return f"{self.prefix}_celeriac.eta.{queue}"

    def wake(self, queue: str) -> str:
        """The wake-up token list of ``queue``."""
        return f"{self.prefix}_celeriac.wake.{queue}"

    def binding(self, exchange: str) -> str:
        """Kombu's binding table of ``exchange``."""
        return f"{self.prefix}_kombu.binding.{exchange}"

    def binding_permanent(self, exchange: str) -> str:
        """Kombu 5.7's set of bindings that never expire."""
        return f"{self.prefix}_kombu.binding_permanent.{exchange}"


def encode_envelope(message: Message, exchange: str, routing_key: str) -> str:
    """The kombu envelope of ``message`` as JSON text, with a new delivery tag.

    Raises:
        EncodeError: headers or properties hold something JSON cannot carry.

    """
    properties: dict[str, Any] = {}
    delivery_info = {"exchange": exchange, "routing_key": routing_key}
    for key, value in message.properties.items():
        if key in _TRANSPORT_PROPERTIES:
            continue
        if key == "priority":
            properties["delivery_info"] = delivery_info
        properties[key] = value
    properties.setdefault("delivery_info", delivery_info)
    properties["body_encoding"] = "base64"
    properties["delivery_tag"] = uuid4_text()
    envelope = {
        "body": base64.b64encode(message.body).decode("ascii"),
        "content-encoding": message.content_encoding,
        "content-type": message.content_type,
        "headers": message.headers,
        "properties": properties,
    }
    try:
        return json_dumps(envelope)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"message cannot be stored as JSON: {exc}") from exc


def _decode_message(text: str) -> tuple[Message, dict[str, Any], bool]:
    envelope = json_loads(text)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("properties"), dict):
        raise DecodeError("not a kombu envelope")
    properties = dict(envelope["properties"])
    info = properties.pop("delivery_info", None) or {}
    if not isinstance(info, dict):
        info = {}
    body_encoding = properties.pop("body_encoding", None)
    properties.pop("delivery_tag", None)
    headers = envelope.get("headers") or {}
    if not isinstance(headers, dict):
        raise DecodeError("envelope headers are not an object")
    headers = dict(headers)
    is_redelivered = bool(headers.pop("redelivered", False)) or bool(info.get("redelivered"))
    raw_body = envelope.get("body")
    if raw_body is None:
        body = b""
    elif body_encoding == "base64":
        try:
            body = base64.b64decode(str(raw_body), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"invalid base64 body: {exc}") from exc
    else:
        body = str(raw_body).encode("utf-8")
    message = Message(
        body,
        headers,
        properties,
        envelope.get("content-type") or "",
        envelope.get("content-encoding") or "",
    )
    return message, info, is_redelivered


def decode_delivery(payload: bytes, *, queue: str, bucket: int, tag: str) -> Delivery:
    """The :class:`Delivery` for a list entry taken under lease ``tag``.

    An entry that is not a readable envelope comes back with the content type
    :data:`UNREADABLE` and the raw entry as its body, so the consumer dead-letters it.
    """
    text = payload.decode("utf-8", "replace")
    try:
        message, info, is_redelivered = _decode_message(text)
    except (DecodeError, ValueError) as exc:
        message = Message(payload, {"x-celeriac-error": str(exc)}, {}, UNREADABLE, "binary")
        info, is_redelivered = {}, False
    return Delivery(
        message=message,
        queue=queue,
        tag=tag,
        exchange=str(info.get("exchange") or ""),
        routing_key=str(info.get("routing_key") or queue),
        redelivered=is_redelivered,
        extra={"payload": text, "bucket": bucket},
    )


def redelivered(payload: str) -> str:
    """``payload`` (envelope JSON) marked redelivered as kombu marks a restored message.

    Anything that is not an envelope comes back unchanged.
    """
    try:
        envelope = json.loads(payload)
        envelope["headers"]["redelivered"] = True
        envelope["properties"]["delivery_info"]["redelivered"] = True
    except (ValueError, KeyError, TypeError):
        return payload
    return json.dumps(envelope)


def binding_member(queue: str, routing_key: str, sep: str = DEFAULT_SEP) -> str:
    """A member of ``_kombu.binding.<exchange>``: ``routing_key␆pattern␆queue``."""
    return sep.join([routing_key, "", queue])


def match_bindings(members: Iterable[bytes | str], routing_key: str, sep: str) -> list[str]:
    """The queues of a binding table that ``routing_key`` reaches.

    A member with a pattern (kombu writes one for topic bindings) matches by that
    regular expression; any other by equal routing key (direct exchanges).
    """
    queues: list[str] = []
    for member in members:
        text = member.decode("utf-8") if isinstance(member, bytes) else member
        parts = text.split(sep)
        if len(parts) != 3:
            continue
        key, pattern, queue = parts
        try:
            hit = re.match(pattern, routing_key) if pattern else key == routing_key
        except re.error:
            hit = False
        if hit and queue not in queues:
            queues.append(queue)
    return queues
