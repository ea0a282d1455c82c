"""Exchanges, queues and bindings as Celery declares them on RabbitMQ (wire spec 3.7).

* A task queue ``Q`` unknown to the app is ``Queue(Q, Exchange(Q, "direct"), Q)``:
  durable queue ``Q`` bound to the durable direct exchange ``Q`` with key ``Q``. The
  default queue is therefore ``celery`` on the exchange ``celery``.
* ``task_queues`` entries are declared as given (exchange type, binding key, durable,
  exclusive, auto-delete, ``queue_arguments`` such as ``x-queue-type``), with
  ``x-max-priority`` from ``Queue.max_priority`` or ``task_queue_max_priority``.
* Countdown/ETA messages use kombu's native delayed delivery (Celery 5.5+): 28 topic
  exchanges and queues ``celery_delayed_<level>`` whose queue waits ``2**level`` seconds
  (``x-message-ttl``) and dead-letters to the next level; the routing key is the delay
  in seconds as 28 binary digits, one word each, then the target's routing key. After
  level 0 the message reaches the topic exchange ``celery_delayed_delivery``, where each
  target queue is bound with ``*.*. ... .<queue>`` (28 single-word wildcards), so it
  lands in exactly that queue. Every queue holds one TTL, so nothing waits behind a
  longer delay, the number of queues is fixed, and the longest delay is 2**28 s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "DELAY_BITS",
    "DELAY_ENTRY_EXCHANGE",
    "ExchangeSpec",
    "QueueLike",
    "QueueSpec",
    "delay_levels",
    "delay_seconds",
    "delayed_binding_key",
    "delayed_routing_key",
    "queue_spec",
]

DELAY_BITS = 28
DELAY_ENTRY_EXCHANGE = f"celery_delayed_{DELAY_BITS - 1}"
_DELIVERY_EXCHANGE = "celery_delayed_delivery"


class QueueLike(Protocol):
    """What the broker reads from an app's queue (``celeriac.Queue``, kombu's names)."""

    @property
    def name(self) -> str: ...
    @property
    def exchange_name(self) -> str: ...
    @property
    def exchange_type(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def durable(self) -> bool: ...
    @property
    def exclusive(self) -> bool: ...
    @property
    def auto_delete(self) -> bool: ...
    @property
    def queue_arguments(self) -> Mapping[str, Any] | None: ...
    @property
    def max_priority(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """An exchange to declare."""

    name: str
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue to declare, and the exchange and key it is bound with."""

    name: str
    exchange: ExchangeSpec | None = None
    binding_key: str = ""
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)


def queue_spec(name: str, known: QueueLike | None, max_priority: int | None) -> QueueSpec:
    """The declaration of queue ``name``: as the app declared it, else Celery's default."""
    if known is None:
        arguments = {} if max_priority is None else {"x-max-priority": max_priority}
        return QueueSpec(name, ExchangeSpec(name), name, arguments=arguments)
    arguments = dict(known.queue_arguments or {})
    priority = known.max_priority if known.max_priority is not None else max_priority
    if priority is not None:
        arguments.setdefault("x-max-priority", priority)
    exchange_name = known.exchange_name
    exchange = None
    if exchange_name:
        raw = getattr(known, "exchange", None)
        exchange = ExchangeSpec(
            exchange_name,
            known.exchange_type,
            durable=bool(getattr(raw, "durable", True)),
            auto_delete=bool(getattr(raw, "auto_delete", False)),
        )
    return QueueSpec(
        known.name,
        exchange,
        known.key,
        durable=known.durable,
        exclusive=known.exclusive,
        auto_delete=known.auto_delete,
        arguments=arguments,
    )


# -- delayed delivery ------------------------------------------------------------------


def delay_seconds(eta: float, now: float) -> int:
    """Whole seconds to wait for ``eta`` (rounded up: never early), 0 if due."""
    seconds: int = math.ceil(eta - now)
    return max(0, min(seconds, (1 << DELAY_BITS) - 1))


def delayed_routing_key(seconds: int, routing_key: str) -> str:
    """The routing key kombu uses for a delay: 28 binary digits as words, then the key."""
    return ".".join(f"{seconds:0{DELAY_BITS}b}") + "." + routing_key


def delayed_binding_key(queue: str) -> str:
    """How a target queue is bound to ``celery_delayed_delivery``: exactly its name."""
    return "*." * DELAY_BITS + queue


@dataclass(frozen=True, slots=True)
class DelayLevel:
    """One level: its exchange and queue (both ``celery_delayed_<level>``)."""

    level: int
    queue_binding: str  # messages whose digit for this level is 1 wait here
    skip_binding: str  # ... those with 0 go straight on
    next_exchange: str

    @property
    def name(self) -> str:
        return f"celery_delayed_{self.level}"

    def queue_arguments(self, queue_type: str = "classic") -> dict[str, Any]:
        """As kombu declares them, so Celery and celeriac share the queues."""
        arguments: dict[str, Any] = {
            "x-queue-type": queue_type,
            "x-overflow": "reject-publish",
            "x-message-ttl": 2**self.level * 1000,
            "x-dead-letter-exchange": self.next_exchange,
        }
        if queue_type == "quorum":
            arguments["x-dead-letter-strategy"] = "at-least-once"
        return arguments


def delay_levels() -> list[DelayLevel]:
    """The 28 levels, highest first, with the bindings kombu declares."""
    levels = []
    for level in range(DELAY_BITS - 1, -1, -1):
        prefix = "*." * (DELAY_BITS - 1 - level)
        levels.append(
            DelayLevel(
                level=level,
                queue_binding=prefix + "1.#",
                skip_binding=prefix + "0.#",
                next_exchange=f"celery_delayed_{level - 1}" if level else _DELIVERY_EXCHANGE,
            )
        )
    return levels
