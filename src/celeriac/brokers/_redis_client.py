"""The redis-py clients of the Redis broker, one per face, each with the scripts loaded.

:class:`SyncScripts` is the blocking face's client and :class:`AsyncScripts` the asyncio
face's; both are made on first use, with redis-py's own retry of a dropped connection,
and register the scripts of :mod:`celeriac.brokers._redis_scripts`.
:func:`translate_errors` turns redis-py's errors into celeriac's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from celeriac._internal.naming import mask_url
from celeriac._internal.redis_direct import ThreadConnections
from celeriac.brokers import _redis_scripts as lua
from celeriac.exceptions import BrokerError, OperationalError

__all__ = ["SCRIPTS", "AsyncScripts", "SyncScripts", "translate_errors"]

logger = logging.getLogger(__name__)

SCRIPTS = dict(take=lua.TAKE, publish=lua.PUBLISH, eta=lua.ETA, release=lua.RELEASE, ack=lua.ACK)


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py errors into celeriac's: lost connections are transient."""
    try:
        yield
    except redis.AuthenticationError as exc:
        raise BrokerError(f"Redis at {mask_url(url)} refused the credentials: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise OperationalError(f"Redis at {mask_url(url)} is unreachable: {exc}") from exc
    except redis.RedisError as exc:
        raise BrokerError(f"Redis at {mask_url(url)} failed: {exc}") from exc


class SyncScripts:
    """The blocking client, shared by threads, and its registered scripts."""

    def __init__(self, connection: dict[str, Any]) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self.scripts: dict[str, Any] = {}
        self._direct = ThreadConnections()  # each thread's connection for run()

    def client(self) -> redis.Redis:
        """The client, made (and the scripts registered) on first use."""
        with self._lock:
            if self._client is None:
                retry = Retry(ExponentialBackoff(cap=0.5, base=0.01), 2)
                client = redis.Redis(**self._connection, retry=retry)
                # The scripts first: run() reads _client without the lock.
                self.scripts = {n: client.register_script(s) for n, s in SCRIPTS.items()}
                self._client = client
            return self._client

    def eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the script ``name``."""
        client = self.client()  # first: it also registers the scripts
        return self.scripts[name](keys=list(keys), args=list(args), client=client)

    def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the script ``name`` as one ``EVALSHA`` on this thread's own connection.

        The one-message publish path (see :mod:`celeriac._internal.redis_direct`); an
        unknown script is loaded, then run.
        """
        client = self._client or self.client()  # made first: it registers the scripts
        return self._direct.run_script(client, self.scripts[name], keys, args)

    def close(self) -> None:
        """Close the client's connections; the next use makes a new client."""
        with self._lock:
            client, self._client = self._client, None
        self._direct.close()
        if client is not None:
            client.close()


class AsyncScripts:
    """The asyncio client of the running event loop and its registered scripts."""

    def __init__(self, connection: dict[str, Any]) -> None:
        self._connection = connection
        self._client: aredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, Any] = {}
        self._closer: AsyncIterator[None] | None = None

    async def client(self) -> aredis.Redis:
        """The client of the running loop, made when the loop changes."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            retry = AsyncRetry(ExponentialBackoff(cap=0.5, base=0.01), 2)
            client = aredis.Redis(**self._connection, retry=retry)
            self._client, self._loop = client, loop
            self._scripts = {n: client.register_script(s) for n, s in SCRIPTS.items()}
            # asyncio.run() finalizes async generators before closing its loop: this
            # one closes the client's connections then, even if aclose() is never called.
            self._closer = _close_at_loop_end(client)
            await anext(self._closer)
        return self._client

    async def eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the script ``name``."""
        client = await self.client()
        return await self._scripts[name](keys=list(keys), args=list(args), client=client)

    async def aclose(self) -> None:
        """Close the client's connections."""
        closer, self._closer, self._client = self._closer, None, None
        if closer is not None:
            await closer.aclose()  # type: ignore[attr-defined]


async def _close_at_loop_end(client: aredis.Redis) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await client.aclose()
