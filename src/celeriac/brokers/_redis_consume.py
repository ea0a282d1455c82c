"""The taking path of the Redis broker: leasing messages, waiting idle, restoring leases.

:func:`get` (the blocking face) and :func:`afetch` (the asyncio face) run the take script
and, when it finds nothing, wait in a ``BRPOP`` on the queues' wake-up keys and lists
(see ``_redis_idle``) until a message, an eta or a lease expiry is due.
:func:`restore_expired` puts the messages of leases past the visibility timeout back.
:class:`Taking` holds the clients, the plan and the idle state both faces work with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celeriac.brokers._redis_client import AsyncScripts, SyncScripts, translate_errors
from celeriac.brokers._redis_idle import IdleWait
from celeriac.brokers._redis_plan import Plan, Popped
from celeriac.brokers._redis_publish import destinations
from celeriac.brokers.base import Delivery

__all__ = ["Taking", "restore_expired"]

logger = logging.getLogger(__name__)

_LOOK_AGAIN = 60.0  # seconds an idle consumer goes without a take at most
_MIN_BLOCK = 0.1  # below this a BRPOP timeout is rounded up to Redis's 100 ms tick


@dataclass(frozen=True, slots=True)
class Taking:
    """The broker's taking path: its clients, plan and idle state, and how long to block.

    ``block_limit`` is the longest single ``BRPOP`` (``polling_interval``, shortened
    under a socket timeout).
    """

    conn: SyncScripts
    aconn: AsyncScripts
    plan: Plan
    idle: IdleWait
    url: str
    block_limit: float

    def get(self, queues: Sequence[str], timeout: float | None) -> Delivery | None:
        """The blocking face's take: see :meth:`~celeriac.brokers.redis.RedisBroker.get`."""
        conn, plan, idle = self.conn, self.plan, self.idle
        deadline = None if timeout is None else time.monotonic() + timeout
        adopted: Popped | None = None
        with translate_errors(self.url):
            if idle.holds:
                idle.give_back(conn.client())
            while True:
                batch, wake_at, expired = self._take(queues, 1, adopted)
                adopted = None  # recorded by that take: it is the batch
                if expired:
                    restore_expired(conn, plan)
                if batch:
                    return batch[0]
                wait = plan.wait_time(deadline, wake_at, self.block_limit)
                if wait is None:
                    return None
                if wait < _MIN_BLOCK:
                    time.sleep(wait)
                elif not expired:
                    reply = conn.client().brpop(plan.block_keys(queues), timeout=wait)
                    adopted = plan.popped(reply, queues) if reply else None

    def _take(
        self, queues: Sequence[str], limit: int, adopted: Popped | None
    ) -> tuple[list[Delivery], float | None, bool]:
        keys, args, layout = self.plan.take(queues, limit, adopted)
        try:
            reply = self.conn.eval("take", keys, args)
        except BaseException:
            self.idle.keep(adopted, trouble=True)
            raise
        return self.plan.taken(reply, layout)

    async def afetch(self, queues: Sequence[str], limit: int, timeout: float) -> list[Delivery]:
        """The asyncio face's take: see :meth:`~celeriac.brokers.redis.RedisBroker.afetch`.

        Which queue sets rested empty, and until when, is kept in ``idle.resting``.
        """
        aconn, plan, idle = self.aconn, self.plan, self.idle
        deadline = time.monotonic() + timeout
        resting = tuple(queues)
        must_take = resting not in idle.resting or timeout < _MIN_BLOCK
        wake_at = idle.resting.pop(resting, None)
        must_take = must_take or (wake_at is not None and wake_at <= time.time())
        adopted: Popped | None = None
        with translate_errors(self.url):
            if idle.holds:
                await idle.agive_back(await aconn.client())
            while True:
                if must_take or adopted is not None:
                    batch, wake_at, must_take = await self._atake(queues, limit, adopted)
                    # Take again at least every _LOOK_AGAIN seconds, for what no token
                    # announces (another consumer's eta wake-up it took, then died).
                    wake_at = min(wake_at or math.inf, time.time() + _LOOK_AGAIN)
                    adopted = None
                    if must_take:  # leases expired: restore them, then take again
                        await asyncio.to_thread(restore_expired, self.conn, plan)
                    if batch:
                        return batch
                wait = plan.wait_time(deadline, wake_at, self.block_limit)
                if wait is None:
                    if not must_take:
                        idle.resting[resting] = wake_at
                    return []
                if must_take:
                    continue
                if wait < _MIN_BLOCK:
                    await asyncio.sleep(wait)
                    must_take = wake_at is not None and wake_at <= time.time()
                    continue
                reply = await idle.block(await aconn.client(), queues, wait)
                if reply is not None:
                    adopted = plan.popped(reply, queues)
                must_take = reply is not None or (wake_at is not None and wake_at <= time.time())

    async def _atake(
        self, queues: Sequence[str], limit: int, adopted: Popped | None = None
    ) -> tuple[list[Delivery], float | None, bool]:
        """One take, shielded: if the caller is cancelled meanwhile, give the batch back."""
        aconn, plan, idle = self.aconn, self.plan, self.idle
        keys, args, layout = plan.take(queues, limit, adopted)
        taking = asyncio.ensure_future(aconn.eval("take", keys, args))
        try:
            reply = await asyncio.shield(taking)
        except asyncio.CancelledError:
            taking.add_done_callback(lambda done: idle.keep_unless_taken(done, adopted))
            with contextlib.suppress(Exception):
                batch = plan.taken(await taking, layout)[0]
                for delivery in batch:
                    await aconn.eval("release", *plan.give_back(delivery))
            raise
        except BaseException:
            idle.keep(adopted, trouble=True)
            raise
        return plan.taken(reply, layout)


def restore_expired(conn: SyncScripts, plan: Plan) -> None:
    """Put back (up to 100 of) the messages whose lease outlived the visibility timeout."""
    client = conn.client()
    ceiling = time.time() - plan.visibility_timeout
    tags: list[Any] = client.zrangebyscore(plan.keys.unacked_index, "-inf", ceiling, 0, 100)
    if not tags:
        return
    records = client.hmget(plan.keys.unacked, tags)
    for tag, record in zip(tags, records, strict=True):
        payload, exchange, routing_key = plan.unacked_record(record)
        queues = destinations(conn, plan, exchange, routing_key) if payload else []
        keys, args = plan.release(tag, payload, queues, "rpush", ceiling)
        if conn.eval("release", keys, args):
            logger.warning("Restored unacked message %s to %s", tag, queues)
