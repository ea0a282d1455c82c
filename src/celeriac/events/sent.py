"""``task-sent`` events, sent by the publishing side when ``task_send_sent_event`` is on.

The fields are Celery's (its ``amqp.send_task_message``): the message's id, root and
parent ids, name, argument reprs, retries, eta, expires, and where it was routed. The
sender is named like Celery's clients, ``gen<pid>@<host>``. One dispatcher per broker
connection and process, created on first use.
"""

from __future__ import annotations

import os
import socket
import threading
import weakref
from typing import Any

from celeriac.brokers.base import Broker
from celeriac.events.dispatcher import EventDispatcher

__all__ = ["send_task_sent"]

_dispatchers: weakref.WeakKeyDictionary[Broker, EventDispatcher] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def send_task_sent(
    broker: Broker, headers: dict[str, Any], *, queue: str, exchange: str, routing_key: str
) -> None:
    """Send the ``task-sent`` event of a message just published with these headers."""
    _dispatcher(broker).send(
        "task-sent",
        uuid=headers["id"],
        root_id=headers.get("root_id"),
        parent_id=headers.get("parent_id"),
        name=headers["task"],
        args=headers.get("argsrepr"),
        kwargs=headers.get("kwargsrepr"),
        retries=headers.get("retries", 0),
        eta=headers.get("eta"),
        expires=headers.get("expires"),
        queue=queue,
        exchange=exchange,
        routing_key=routing_key,
    )


def _dispatcher(broker: Broker) -> EventDispatcher:
    pid = os.getpid()
    with _lock:
        dispatcher = _dispatchers.get(broker)
        if dispatcher is None or dispatcher.pid != pid:  # a forked child sends as itself
            dispatcher = EventDispatcher(
                broker.event_channel(), hostname=f"gen{pid}@{socket.gethostname()}"
            )
            _dispatchers[broker] = dispatcher
        return dispatcher
