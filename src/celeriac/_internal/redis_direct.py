"""One Redis command per call on a connection each thread keeps, outside redis-py's pool.

For the commands sent once per task (a publish, a result's store or read), where the
pool's per-command work (a readiness poll of the socket, bookkeeping, metrics) costs
more CPU than the round trip itself. Used by the Redis broker and result backend.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis

__all__ = ["ThreadConnections", "execute"]


class ThreadConnections:
    """A connection per thread (and per process: a forked child makes its own).

    Each is made as the client's pool makes one; a thread's closes when the thread
    ends, and :meth:`close` closes them all.
    """

    def __init__(self) -> None:
        self._held = threading.local()  # (pid, client, connection)
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def get(self, client: redis.Redis) -> Any:
        """This thread's connection to ``client``'s server (a new one for a new client)."""
        held = getattr(self._held, "value", None)
        if held is None or held[1] is not client or held[0] != os.getpid():
            pool = client.connection_pool
            conn = pool.connection_class(**pool.connection_kwargs)
            held = (os.getpid(), client, conn)
            self._held.value = held
            with self._lock:
                self._all.add(conn)
        return held[2]

    def run_script(
        self, client: redis.Redis, script: Any, keys: Sequence[Any], args: Sequence[Any]
    ) -> Any:
        """``script`` (registered on ``client``) as one ``EVALSHA`` on this thread's connection.

        A script the server does not hold yet is loaded through ``client``, then run.
        """
        try:
            return execute(self.get(client), "EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return script(keys=list(keys), args=list(args), client=client)

    def close(self) -> None:
        """Close every thread's connection; each makes a new one on its next use."""
        with self._lock:
            held, self._all = list(self._all), weakref.WeakSet()
        for conn in held:
            conn.disconnect()


def execute(conn: Any, *command: Any) -> Any:
    """Send ``command`` on ``conn`` and return its reply, retried as the client retries.

    Raises:
        redis.RedisError: as the client's own commands raise it (``NoScriptError`` for
            an ``EVALSHA`` of a script the server does not hold).
    """
    packed = conn.pack_command(*command)

    def attempt() -> Any:
        try:
            conn.send_packed_command(packed)
            return conn.read_response()
        except redis.ResponseError:
            raise  # the reply was read whole: the connection stays usable
        except BaseException:
            conn.disconnect()  # a reply may be left unread (an interrupt in between)
            raise

    return conn.retry.call_with_retry(attempt, lambda _error: conn.disconnect())
