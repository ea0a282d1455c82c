"""What the SQLite and memory brokers share about storing and leasing messages."""

from __future__ import annotations

import logging
from typing import Any

from celeriac.brokers.base import Delivery
from celeriac.exceptions import BrokerError, EncodeError
from celeriac.serialization import json_dumps

__all__ = ["clamp_priority", "encode_json", "lease_tag", "log_lost_lease"]

logger = logging.getLogger(__name__)


def encode_json(value: dict[str, Any], what: str) -> str:
    """Encode message headers or properties as kombu-tagged JSON.

    Raises:
        EncodeError: ``value`` holds something JSON cannot carry.

    """
    try:
        return json_dumps(value)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"message {what} cannot be stored as JSON: {exc}") from exc


def clamp_priority(priority: int) -> int:
    """Bring a priority into RabbitMQ's range, 0..255."""
    return min(max(priority, 0), 255)


def lease_tag(delivery: Delivery) -> tuple[int, str]:
    """Split a delivery tag into (message id, lease token).

    Raises:
        BrokerError: the delivery was not made by a broker using such tags.

    """
    tag = delivery.tag
    if not (isinstance(tag, tuple) and len(tag) == 2):
        raise BrokerError(f"delivery tag {tag!r} is not a (message id, lease token) pair")
    return int(tag[0]), str(tag[1])


def log_lost_lease(action: str, delivery: Delivery) -> None:
    """Warn that ``action`` did nothing because the caller no longer holds the lease."""
    logger.warning(
        "%s of message %s from queue %r ignored: its lease ran out and it was delivered"
        " again, or it was already acked",
        action,
        lease_tag(delivery)[0],
        delivery.queue,
    )
