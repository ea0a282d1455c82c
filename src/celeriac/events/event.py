"""One event: a dict with ``type``, ``timestamp`` and the sender's fields (wire spec §7)."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Event", "adjust_timestamp", "group_from", "routing_key_for", "utcoffset"]


def Event(event_type: str, **fields: Any) -> dict[str, Any]:
    """An event of ``event_type``; ``timestamp`` is now unless given."""
    event = dict(fields)
    event.setdefault("timestamp", time.time())
    event["type"] = event_type
    return event


def group_from(event_type: str) -> str:
    """``task`` for ``task-sent``, ``worker`` for ``worker-online``."""
    return event_type.split("-", 1)[0]


def routing_key_for(event_type: str) -> str:
    """The routing key Celery publishes an event under: ``task.succeeded``."""
    return event_type.replace("-", ".")


def utcoffset() -> float:
    """Hours *west* of UTC, as Celery writes ``utcoffset`` (UTC+2 gives -2.0)."""
    if time.localtime().tm_isdst:
        return time.altzone / 3600
    return time.timezone / 3600


def adjust_timestamp(timestamp: float, offset: float) -> float:
    """A sender's timestamp moved into this machine's local time base."""
    return timestamp - (offset - utcoffset()) * 3600
