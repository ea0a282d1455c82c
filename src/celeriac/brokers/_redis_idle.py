"""How an idle Redis consumer waits: one ``BRPOP`` on its wake-up keys and lists.

The wait blocks on the queues' wake-up keys first, then on their lists (every priority
bucket, in consume order), for at most ``polling_interval`` (1 s). celeriac publishers
push a wake-up token before the message, so the consumer is served the token and takes
the message with the atomic take script. A Celery client pushes no token: then the
``BRPOP`` pops the message itself, and the very next command, the take script, records
it unacked under a lease (first in its batch) before the consumer sees it.

Delivery guarantee, and its trade-off: between that pop and that take the message is
only in the consumer's memory, for one round trip. If the take fails, the message is
held here and pushed back to the consuming end of its list as soon as Redis answers; a
fetch cancelled while it waits ends the ``BRPOP`` with a token on the consumer's own
``_celeriac.unblock.<id>`` key and pushes back whatever it popped. Only a consumer
process that dies in that one round trip loses the message: Celery's own Redis
transport has the same window for every message it receives (``BRPOP``, then
``MULTI``/``ZADD``/``HSET``/``EXEC``), celeriac only for the first message after an idle
wait, and only for messages from clients that push no token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac.brokers._redis_plan import Plan, Popped

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

__all__ = ["IdleWait"]

logger = logging.getLogger(__name__)

_UNBLOCK_TTL = 60  # seconds an unblock token outlives a wait that ended another way


class IdleWait:
    """One broker's blocking waits, and the popped messages it still has to record."""

    def __init__(self, plan: Plan, unblock_key: str) -> None:
        self.plan = plan
        self.unblock_key = unblock_key
        # Queues whose last fetch found nothing -> when its take said to look again.
        self.resting: dict[tuple[str, ...], float | None] = {}
        self._held: list[Popped] = []
        self._lock = threading.Lock()

    def keep(self, popped: Popped | None, *, trouble: bool = False) -> None:
        """Hold a popped message that was not recorded, to push it back later."""
        if popped is None:
            return
        log = logger.warning if trouble else logger.debug
        log("Holding a message popped from %s until it is pushed back", popped[0])
        with self._lock:
            self._held.append(popped)

    def keep_unless_taken(self, done: asyncio.Future[Any], popped: Popped | None) -> None:
        """Done-callback of a take that carried ``popped``: hold it if the take failed."""
        if done.cancelled() or done.exception() is not None:
            self.keep(popped, trouble=True)

    @property
    def holds(self) -> bool:
        """Whether popped messages wait to be pushed back."""
        return bool(self._held)

    def give_back(self, client: redis.Redis) -> None:
        """Push held messages back to the consuming end of their lists."""
        while True:
            with self._lock:
                if not self._held:
                    return
                key, payload = self._held[0]
            client.rpush(key, payload)
            with self._lock:
                self._held.remove((key, payload))
            logger.debug("Pushed back a message popped from %s", key)

    async def agive_back(self, client: aredis.Redis) -> None:
        """:meth:`give_back` on the asyncio client."""
        while True:
            with self._lock:
                if not self._held:
                    return
                key, payload = self._held[0]
            await client.rpush(key, payload)
            with self._lock:
                self._held.remove((key, payload))
            logger.debug("Pushed back a message popped from %s", key)

    async def block(self, client: aredis.Redis, queues: Sequence[str], wait: float) -> Any:
        """``BRPOP`` on the wake-up keys and lists; if cancelled, end it and keep its pop."""
        keys = [self.unblock_key, *self.plan.block_keys(queues)]
        pop = asyncio.ensure_future(client.brpop(keys, timeout=wait))
        try:
            return await asyncio.shield(pop)
        except asyncio.CancelledError:
            # Whatever the pop returns from now on is held; a token on this consumer's
            # own key ends the wait at once.
            pop.add_done_callback(lambda done: self._hold_popped(done, queues))
            with contextlib.suppress(Exception):
                async with client.pipeline(transaction=False) as pipe:
                    pipe.lpush(self.unblock_key, "1")
                    pipe.expire(self.unblock_key, _UNBLOCK_TTL)
                    await pipe.execute()
                await asyncio.wait_for(asyncio.shield(pop), wait + 1.0)
                await client.delete(self.unblock_key)
                await self.agive_back(client)
            raise

    def _hold_popped(self, done: asyncio.Future[Any], queues: Sequence[str]) -> None:
        if not done.cancelled() and done.exception() is None and done.result() is not None:
            self.keep(self.plan.popped(done.result(), queues))
