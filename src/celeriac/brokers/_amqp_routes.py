"""Declaring what a publish or a consumer needs, from the app's queues (private loop only).

Celery declares a task's queue, its exchange and the binding before publishing to it
(once per connection); so does this. Publishing to an exchange nobody declared treats
the routing key as a queue name bound to that (direct) exchange, the way Celery
creates a missing queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pamqp.commands import Basic

from celeriac.brokers._amqp_client import Session
from celeriac.brokers._amqp_topology import (
    DELAY_ENTRY_EXCHANGE,
    ExchangeSpec,
    QueueLike,
    QueueSpec,
    delay_levels,
    delayed_binding_key,
    delayed_routing_key,
    queue_spec,
)
from celeriac.brokers._topic import topic_matches

__all__ = ["Routes"]

_DELIVERY_EXCHANGE = "celery_delayed_delivery"


class Routes:
    """The app's queues and how to declare them on a session.

    Args:
        queues: The app's declared queues by name (read when needed, so queues the app
            creates later are seen).
        max_priority: ``task_queue_max_priority`` for queues that set none.
    """

    def __init__(self, queues: Mapping[str, QueueLike] | None, max_priority: int | None) -> None:
        self.queues: Mapping[str, QueueLike] = queues if queues is not None else {}
        self.max_priority = max_priority

    def spec(self, name: str) -> QueueSpec:
        """How queue ``name`` is declared."""
        return queue_spec(name, self.queues.get(name), self.max_priority)

    def _bound_to(self, exchange: str) -> list[QueueLike]:
        return [q for q in list(self.queues.values()) if q.exchange_name == exchange]

    async def prepare_queue(self, session: Session, name: str) -> None:
        """Declare queue ``name`` with its exchange and binding."""
        await session.declare_queue(self.spec(name))

    async def prepare_publish(self, session: Session, exchange: str, routing_key: str) -> None:
        """Declare what a message published to ``exchange``/``routing_key`` needs."""
        if not exchange:
            await self.prepare_queue(session, routing_key)
            return
        bound = self._bound_to(exchange)
        if bound:
            for queue in bound:
                await self.prepare_queue(session, queue.name)
            return
        await session.declare_exchange(ExchangeSpec(exchange))
        await self.prepare_queue(session, routing_key)
        await session.bind_queue(routing_key, exchange, routing_key)

    def delayed_targets(self, exchange: str, routing_key: str) -> list[str]:
        """The queues a delayed message for ``exchange``/``routing_key`` ends in."""
        if not exchange:
            return [routing_key]
        bound = self._bound_to(exchange)
        if not bound:
            return [routing_key]
        targets = []
        for queue in bound:
            kind = queue.exchange_type
            if (
                kind == "fanout"
                or (kind == "topic" and topic_matches(queue.key, routing_key))
                or (kind not in {"fanout", "topic"} and queue.key == routing_key)
            ):
                targets.append(queue.name)
        return targets

    async def publish_delayed(
        self,
        session: Session,
        body: bytes,
        properties: Basic.Properties,
        *,
        exchange: str,
        routing_key: str,
        seconds: int,
    ) -> None:
        """Send a message through the delay exchanges to its queues (see ``_amqp_topology``)."""
        await self.prepare_delays(session)
        sends: list[Any] = []
        for queue in self.delayed_targets(exchange, routing_key):
            await self.prepare_queue(session, queue)
            await session.bind_queue(queue, _DELIVERY_EXCHANGE, delayed_binding_key(queue))
            sends.append(
                session.publish(
                    body,
                    exchange=DELAY_ENTRY_EXCHANGE,
                    routing_key=delayed_routing_key(seconds, queue),
                    properties=properties,
                )
            )
        await asyncio.gather(*sends)

    async def prepare_delays(self, session: Session) -> None:
        """Declare kombu's native delayed-delivery exchanges and queues (once)."""
        await session.connect()
        if ("delays",) in session.declared:
            return
        for level in delay_levels():
            await session.declare_exchange(ExchangeSpec(level.name, "topic"))
            await session.declare_queue(
                QueueSpec(
                    level.name,
                    ExchangeSpec(level.name, "topic"),
                    level.queue_binding,
                    arguments=level.queue_arguments(),
                )
            )
        await session.declare_exchange(ExchangeSpec(_DELIVERY_EXCHANGE, "topic"))
        for level in delay_levels():
            await session.bind_exchange(level.next_exchange, level.name, level.skip_binding)
        session.declared.add(("delays",))
