"""The publishing path of the Redis broker (its blocking face).

Routing through kombu's ``_kombu.binding.*`` tables (:func:`destinations`), the common
case of one message to a queue without a held eta as one ``EVALSHA``, the general case
through :meth:`~celeriac.brokers._redis_plan.Plan.publish`, and :func:`publish_many`'s
batches of :data:`BATCH` messages per round trip. Each function takes the client, the
plan and the retry policy it works with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from celeriac.brokers._redis_client import SyncScripts, translate_errors
from celeriac.brokers._redis_options import RetryPolicy
from celeriac.brokers._redis_plan import Plan
from celeriac.brokers.base import Outgoing
from celeriac.protocol import Message

__all__ = ["BATCH", "destinations", "publish", "publish_many"]

logger = logging.getLogger(__name__)

BATCH = 500  # messages per round trip in publish_many


def destinations(conn: SyncScripts, plan: Plan, exchange: str, routing_key: str) -> list[str]:
    """The queues ``exchange`` routes ``routing_key`` to (the queue of that name if none)."""
    if not exchange:
        return [routing_key]
    members = conn.client().smembers(plan.keys.binding(exchange))
    return plan.route(members, routing_key)


def publish(
    conn: SyncScripts,
    plan: Plan,
    retry: RetryPolicy,
    *,
    url: str,
    hold_eta: bool,
    message: Message,
    exchange: str,
    routing_key: str,
    eta: float | None,
) -> None:
    """Publish one message as :meth:`~celeriac.brokers.redis.RedisBroker.publish` says."""
    payload = plan.envelope(message, exchange, routing_key)
    if not exchange and (eta is None or not hold_eta or eta <= time.time()):
        # The common case, without the general path's layers: one EVALSHA.
        keys = plan.publish_keys(routing_key, message.priority)
        retry.call(lambda: _publish_one(conn, url, keys, payload))
        return

    def attempt() -> None:
        with translate_errors(url):
            queues = destinations(conn, plan, exchange, routing_key)
            calls = plan.publish(queues, message, payload, eta, hold=hold_eta)
            for name, keys, args in calls:
                conn.eval(name, keys, args)

    retry.call(attempt)


def _publish_one(conn: SyncScripts, url: str, keys: tuple[str, str], payload: str) -> None:
    with translate_errors(url):
        conn.run("publish", keys, (payload,))


def publish_many(
    conn: SyncScripts,
    plan: Plan,
    retry: RetryPolicy,
    *,
    url: str,
    hold_eta: bool,
    items: Sequence[Outgoing],
) -> None:
    """Publish several messages as :meth:`~celeriac.brokers.redis.RedisBroker.publish_many`."""
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        payloads = [plan.envelope(i.message, i.exchange, i.routing_key) for i in chunk]

        def attempt(chunk: Sequence[Outgoing] = chunk, payloads: list[str] = payloads) -> None:
            with translate_errors(url):
                routes: dict[tuple[str, str], list[str]] = {}
                for item in chunk:
                    route = (item.exchange, item.routing_key)
                    if route not in routes:
                        routes[route] = destinations(conn, plan, *route)
                calls = plan.publish_many(
                    [
                        (routes[i.exchange, i.routing_key], i.message, payload, i.eta)
                        for i, payload in zip(chunk, payloads, strict=True)
                    ],
                    hold=hold_eta,
                )
                with conn.client().pipeline(transaction=False) as pipe:
                    for name, keys, args in calls:
                        conn.scripts[name](keys=keys, args=args, client=pipe)
                    pipe.execute()

        retry.call(attempt)
