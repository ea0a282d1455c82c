"""Messages to AMQP 0.9.1 frames and back, for the ``amqp://`` broker.

What kombu puts where (wire spec 3.7): the body is the raw bytes, the task protocol's
headers are the AMQP application headers, and ``Message.properties`` are the basic
properties. Only the AMQP properties can travel; other keys are dropped, as kombu does.
The client library always adds a ``message_id``; it is not surfaced, since neither
Celery nor celeriac sets one.

AMQP field tables carry strings, numbers, booleans, bytes, lists and tables natively.
Values they cannot carry losslessly (datetimes: a table timestamp has whole seconds;
dates, times, decimals, UUIDs) are sent as kombu's JSON type tags
(``{"__type__": ..., "__value__": ...}``) and turned back on receipt, so headers
round-trip exactly. Celery itself only puts strings, numbers, lists and tables there.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from pamqp.commands import Basic

from celeriac.brokers.base import Delivery
from celeriac.exceptions import EncodeError
from celeriac.protocol import Message
from celeriac.serialization import json_dumps, json_loads

__all__ = [
    "BROKER_HEADERS",
    "decode_headers",
    "encode_headers",
    "message_properties",
    "to_delivery",
]

#: kombu's native delayed delivery exchanges (see ``_amqp_topology``) all start so.
_DELAY_EXCHANGE_PREFIX = "celery_delayed_"
#: Headers RabbitMQ adds when dead-lettering; bookkeeping, not part of the message.
BROKER_HEADERS = ("x-death", "x-first-death-", "x-last-death-")

_PROPERTY_NAMES = {
    "correlation_id": "correlation_id",
    "reply_to": "reply_to",
    "delivery_mode": "delivery_mode",
    "priority": "priority",
    "expiration": "expiration",
    "type": "message_type",
    "user_id": "user_id",
    "app_id": "app_id",
}
_NATIVE = (str, bool, int, float, bytes, type(None))
_DELAYED_KEY = re.compile(r"^(?:[01]\.){28}(.*)$", re.DOTALL)


def _plain(value: Any) -> Any:
    if isinstance(value, _NATIVE):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    try:
        return json.loads(json_dumps(value))
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"message header value {value!r} cannot be sent: {exc}") from exc


def _restored(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 2 and "__type__" in value and "__value__" in value:
            return json_loads(json.dumps(value))
        return {key: _restored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restored(item) for item in value]
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)  # an AMQP timestamp from a peer
    return value


def encode_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Headers as an AMQP field table (extra types as kombu JSON tags)."""
    return {str(key): _plain(value) for key, value in headers.items()}


def decode_headers(table: Mapping[str, Any] | None) -> dict[str, Any]:
    """An AMQP field table as message headers, without RabbitMQ's dead-letter notes."""
    return {
        key: _restored(value)
        for key, value in (table or {}).items()
        if not key.startswith(BROKER_HEADERS)
    }


def message_properties(message: Message, *, drop_expiration: bool = False) -> Basic.Properties:
    """The AMQP basic properties for ``message``.

    Args:
        message: The message to send.
        drop_expiration: Leave out the ``expiration`` TTL (for messages that wait in
            delay queues first: RabbitMQ would count the TTL from there).
    """
    fields: dict[str, Any] = {}
    for key, value in message.properties.items():
        name = _PROPERTY_NAMES.get(key)
        if name is None or value is None or (drop_expiration and key == "expiration"):
            continue
        number = key in {"priority", "delivery_mode"}
        fields[name] = min(max(int(value), 0), 255) if number else str(value)
    return Basic.Properties(
        content_type=message.content_type or None,
        content_encoding=message.content_encoding or None,
        headers=encode_headers(message.headers),
        **fields,
    )


def _properties_dict(props: Basic.Properties) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, name in _PROPERTY_NAMES.items():
        value = getattr(props, name, None)
        if value is not None:
            found[key] = value
    return found


def to_delivery(
    body: bytes,
    props: Basic.Properties,
    *,
    queue: str,
    tag: Any,
    exchange: str,
    routing_key: str,
    redelivered: bool,
) -> Delivery:
    """A :class:`Delivery` from one received AMQP message.

    A message that came through the delay exchanges is shown as published: to the
    default exchange with its own routing key, not the delay route's.
    """
    if exchange.startswith(_DELAY_EXCHANGE_PREFIX):
        matched = _DELAYED_KEY.match(routing_key)
        if matched:
            exchange, routing_key = "", matched.group(1)
    message = Message(
        bytes(body),
        decode_headers(props.headers),
        _properties_dict(props),
        props.content_type or "",
        props.content_encoding or "",
    )
    return Delivery(
        message=message,
        queue=queue,
        tag=tag,
        exchange=exchange,
        routing_key=routing_key,
        redelivered=redelivered,
    )
