"""The embedded SQLite broker, celeriac's default (``sqlite:///celeriac.sqlite3``).

All queues live in one ``messages`` table of one database file, which any number of
processes and threads share (see :mod:`celeriac._internal.sqlite` for how connections
are made). The URL is ``sqlite:///relative/path`` or ``sqlite:////absolute/path``;
in-memory databases are refused because other processes could not see them.

Routing:
    The queue is the routing key. The exchange is recorded and shown in
    ``delivery_info`` but takes no part in routing.

Ordering:
    Higher ``priority`` first, with RabbitMQ's meaning: 0..255, larger is more urgent
    (values outside are clamped). Within a priority, first in, first out.

Leases:
    ``get``/``afetch`` lease messages in a ``BEGIN IMMEDIATE`` transaction, so two
    consumers never lease the same row. A lease lasts ``visibility_timeout`` seconds
    unless renewed; once it has run out, the message is delivered again, marked
    ``redelivered``. ``ack``, ``requeue``, ``renew`` and ``dead_letter`` only act while
    the caller's lease token is still the row's: a consumer whose lease ran out and was
    taken over elsewhere cannot delete the new holder's message.

Waiting:
    A waiting consumer reads ``PRAGMA data_version`` (a few microseconds; it changes when
    another connection commits) and only re-runs the lease query when it changed or when
    the next eta or lease expiry is due. It reads it every millisecond for a second after
    it last received a message, then every ``polling_interval`` seconds, and every 50 ms
    once idle for 10 s (:class:`~celeriac._internal.sqlite.PollPace`).

Transport options: ``visibility_timeout`` (seconds, default 3600) and
``polling_interval`` (seconds between checks of a quiet consumer, default 0.02). Others are
ignored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar, final

from celeriac._internal import sqlite as db
from celeriac._internal.transport_options import float_option
from celeriac.brokers import _sqlite_queries as q
from celeriac.brokers._sqlite_events import SQLiteEventChannel
from celeriac.brokers._sqlite_mailbox import SQLiteMailbox
from celeriac.brokers.base import DEAD_LETTER_QUEUE, Broker, Delivery, Outgoing
from celeriac.exceptions import BrokerError, OperationalError
from celeriac.protocol import Message

__all__ = ["SQLiteBroker"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_SCHEMA_VERSION = 1
_ASYNC_RETRY_MAX = 0.02


@final
class SQLiteBroker(Broker):
    """A broker keeping its queues in one SQLite file.

    Args:
        path: The database file (made absolute at construction).
        url: The URL it was built from, for display.
        visibility_timeout: Seconds a lease lasts without renewal.
        polling_interval: Seconds between two checks for new messages while waiting.
        busy_timeout: Seconds to wait for another connection's write lock before failing.

    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str],
        url: str = "",
        visibility_timeout: float = 3600.0,
        polling_interval: float = 0.02,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.url = url or f"sqlite:///{self.path}"
        self.visibility_timeout = visibility_timeout
        self.polling_interval = polling_interval
        self.busy_timeout = busy_timeout
        self._pace = db.PollPace(polling_interval)
        self._open_lock = threading.Lock()
        self._is_open = False
        self._connections = db.ThreadConnections(factory=self._connect)
        # The asyncio face's own connection (one per event-loop thread): it never waits
        # inside SQLite for a lock, _arun retries from the loop instead.
        self._async_connections = db.ThreadConnections(
            factory=lambda: db.connect(self.path, busy_timeout=0)
        )
        # Commits made on a connection do not change its own data_version; waiters on
        # the asyncio face also compare this count of asyncio-face writes.
        self._async_writes = 0

    @classmethod
    def from_url(
        cls, url: str, *, transport_options: Mapping[str, Any] | None = None
    ) -> SQLiteBroker:
        """Build a broker from ``sqlite:///path`` and Celery's ``broker_transport_options``.

        Raises:
            ImproperlyConfigured: the URL has no file path, or an option is not a number.

        """
        options = transport_options or {}
        return cls(
            path=db.path_from_url(url, what="broker"),
            url=url,
            visibility_timeout=float_option(options, "visibility_timeout", 3600.0),
            polling_interval=float_option(options, "polling_interval", 0.02),
        )

    def __repr__(self) -> str:
        return f"<SQLiteBroker {self.path}>"

    def event_channel(self) -> SQLiteEventChannel:
        """Monitoring events through a short-lived table in the same file."""
        return SQLiteEventChannel(path=self.path, busy_timeout=self.busy_timeout)

    def mailbox(self) -> SQLiteMailbox:
        """Remote control through two tables in the same file."""
        return SQLiteMailbox(path=self.path, busy_timeout=self.busy_timeout)

    # -- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        """Create the database file and its table if needed. Safe to call twice.

        Raises:
            BrokerError: the file cannot be created or opened read-write.

        """
        with self._open_lock:
            if self._is_open:
                return
            with self._translate_errors():
                conn = self._connections.get()
                db.migrate(
                    conn,
                    slot=db.BROKER_SCHEMA_SLOT,
                    version=_SCHEMA_VERSION,
                    ddl=q.SCHEMA,
                    error=BrokerError,
                )
            self._is_open = True
        logger.debug("opened SQLite broker %s", self.path)

    def close(self) -> None:
        """Close every connection. Safe to call twice."""
        with self._open_lock:
            self._connections.close_all()
            self._async_connections.close_all()
            self._is_open = False

    # -- blocking face -------------------------------------------------------------

    def publish(
        self,
        message: Message,
        *,
        exchange: str = "",
        routing_key: str,
        eta: float | None = None,
    ) -> None:
        """Append ``message`` to the queue named ``routing_key``.

        Args:
            message: What to send; its ``priority`` property orders delivery.
            exchange: Recorded for ``delivery_info``; not used for routing.
            routing_key: The queue.
            eta: A unix time before which the message is not delivered.

        """
        row = q.message_row(message, exchange, routing_key, eta, time.time())
        with self._translate_errors():
            self._connection().execute(q.INSERT, row)

    def publish_many(self, items: Sequence[Outgoing]) -> None:
        """Append several messages in one transaction: all of them are sent, or none."""
        now = time.time()
        rows = [
            q.message_row(item.message, item.exchange, item.routing_key, item.eta, now)
            for item in items
        ]
        if rows:
            with self._translate_errors(), db.immediate(self._connection()) as conn:
                conn.executemany(q.INSERT, rows)

    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        """Lease the best ready message of ``queues``, waiting up to ``timeout`` seconds.

        ``None`` waits forever; ``0`` does not wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._translate_errors():
            conn = self._connection()
            while True:
                seen = db.data_version(conn)
                batch, due = q.reserve(conn, queues, 1, self.visibility_timeout)
                if batch:
                    self._pace.active()
                    return batch[0]
                if not self._idle(conn, seen, due, deadline):
                    return None

    def ack(self, delivery: Delivery) -> None:
        """Delete the message, unless its lease was lost (then log a warning)."""
        with self._translate_errors():
            q.ack(self._connection(), [delivery])

    def requeue(self, delivery: Delivery) -> None:
        """Make the message deliverable again, marked redelivered (if still leased)."""
        with self._translate_errors():
            q.requeue(self._connection(), [delivery])

    def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Push the leases still held back to ``visibility_timeout`` from now."""
        with self._translate_errors():
            q.renew(self._connection(), deliveries, self.visibility_timeout)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move the message to :data:`DEAD_LETTER_QUEUE` atomically (if still leased)."""
        with self._translate_errors():
            q.dead_letter(self._connection(), delivery, reason, DEAD_LETTER_QUEUE)

    def purge(self, queue: str) -> int:
        """Delete the messages of ``queue`` that are not leased; return how many."""
        with self._translate_errors():
            cursor = self._connection().execute(q.PURGE, (queue, time.time()))
            return cursor.rowcount

    def size(self, queue: str) -> int:
        """How many messages of ``queue`` are not leased, eta-delayed ones included."""
        with self._translate_errors():
            row = self._connection().execute(q.SIZE, (queue, time.time())).fetchone()
            return int(row[0])

    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        """Up to ``limit`` ready messages of ``queue``, oldest first, left unleased."""
        with self._translate_errors():
            now = time.time()
            rows = self._connection().execute(q.PEEK, (queue, now, now, limit)).fetchall()
            return [q.message_from(row) for row in rows]

    # -- asyncio face: statements run on the loop thread, they take microseconds ------

    async def aopen(self) -> None:
        """Open from the event loop (and connect the asyncio face)."""
        with self._translate_errors():
            self._async_connection()

    async def aclose(self) -> None:
        """Close from the event loop."""
        self.close()

    async def afetch(self, queues: Sequence[str], *, limit: int, timeout: float) -> list[Delivery]:
        """Lease up to ``limit`` messages in one transaction, waiting for the first."""
        deadline = time.monotonic() + timeout
        while True:
            seen = await self._arun(self._async_version)
            batch, due = await self._arun(
                lambda conn: q.reserve(conn, queues, limit, self.visibility_timeout)
            )
            if batch:
                self._pace.active()
                return batch
            if not await self._aidle(seen, due, deadline):
                return []

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        """Delete several leased messages in one transaction."""
        await self._arun(lambda conn: q.ack(conn, deliveries))

    async def arequeue(self, deliveries: Sequence[Delivery]) -> None:
        """Requeue several leased messages in one transaction."""
        await self._arun(lambda conn: q.requeue(conn, deliveries))
        self._async_writes += 1

    async def arenew(self, deliveries: Sequence[Delivery]) -> None:
        """Renew several leases in one transaction."""
        await self._arun(lambda conn: q.renew(conn, deliveries, self.visibility_timeout))

    async def apublish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        """Publish from the event loop."""
        row = q.message_row(message, exchange, routing_key, eta, time.time())
        await self._arun(lambda conn: conn.execute(q.INSERT, row))
        self._async_writes += 1

    async def adead_letter(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter from the event loop."""
        await self._arun(lambda conn: q.dead_letter(conn, delivery, reason, DEAD_LETTER_QUEUE))
        self._async_writes += 1

    # -- internals -----------------------------------------------------------------

    def _translate_errors(self) -> AbstractContextManager[None]:
        return db.translate_errors(
            self.path,
            error=BrokerError,
            busy_error=OperationalError,
            busy_timeout=self.busy_timeout,
        )

    def _connect(self) -> sqlite3.Connection:
        return db.connect(self.path, busy_timeout=self.busy_timeout)

    def _connection(self) -> sqlite3.Connection:
        if not self._is_open:
            self.open()
        return self._connections.get()

    def _async_connection(self) -> sqlite3.Connection:
        if not self._is_open:
            self.open()
        return self._async_connections.get()

    def _async_version(self, conn: sqlite3.Connection) -> tuple[int, int]:
        return db.data_version(conn), self._async_writes

    def _idle(
        self, conn: sqlite3.Connection, seen: int, due: float | None, deadline: float | None
    ) -> bool:
        """Sleep until something may be deliverable (True) or the deadline passes (False)."""
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            time.sleep(self._pace.pause(remaining))
            if db.data_version(conn) != seen or (due is not None and time.time() >= due):
                return True

    async def _aidle(self, seen: tuple[int, int], due: float | None, deadline: float) -> bool:
        """:meth:`_idle` for the event loop."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(self._pace.pause(remaining))
            if await self._arun(self._async_version) != seen:
                return True
            if due is not None and time.time() >= due:
                return True

    async def _arun(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on the asyncio connection.

        While another writer holds the lock, retry from the loop (never blocking it) for
        up to ``busy_timeout`` seconds.
        """
        with self._translate_errors():
            conn = self._async_connection()
            deadline = time.monotonic() + self.busy_timeout
            pause = 0.001
            while True:
                try:
                    return work(conn)
                except sqlite3.OperationalError as exc:
                    if not db.is_busy(exc) or time.monotonic() >= deadline:
                        raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, _ASYNC_RETRY_MAX)
