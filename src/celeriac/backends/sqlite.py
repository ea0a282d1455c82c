"""The SQLite result backend: ``sqlite:///path`` or Celery's ``db+sqlite:///path``.

Results live in a ``results`` table; the file may be the broker's own (the broker uses
its own ``messages`` table). Connections are made as for the broker (see
:mod:`celeriac._internal.sqlite`): WAL, a busy timeout, one connection per thread.

Each write is one ``INSERT ... ON CONFLICT DO UPDATE`` whose ``WHERE`` clause keeps a
stored ready (final) result from being replaced by a non-ready one, so the rule of
:class:`~celeriac.backends.base.ResultBackend` holds across processes without a
read-modify-write race. Expired rows are invisible at once and deleted by
:meth:`SQLiteBackend.cleanup`, which also runs every 1000 writes.

Waiting (``wait_for``) reads ``PRAGMA data_version``, which changes when any other
connection commits: every millisecond for the first second of a wait (a result stored by
another process is seen within a millisecond or two), then every 10 ms, then every 50 ms
after 10 s (:class:`~celeriac._internal.sqlite.PollPace`).
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, final

from celeriac._internal import sqlite as db
from celeriac.backends.base import ResultBackend
from celeriac.exceptions import BackendError

__all__ = ["SQLiteBackend"]

logger = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS results (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL,
        is_ready INTEGER NOT NULL,
        expires_at REAL,
        updated_at REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS results_expires ON results (expires_at)"
    " WHERE expires_at IS NOT NULL",
)
_GET = "SELECT value FROM results WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
_SET = """
    INSERT INTO results (key, value, is_ready, expires_at, updated_at)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET
        value = excluded.value,
        is_ready = excluded.is_ready,
        expires_at = excluded.expires_at,
        updated_at = excluded.updated_at
    WHERE NOT (
        results.is_ready = 1 AND excluded.is_ready = 0
        AND (results.expires_at IS NULL OR results.expires_at > ?)
    )
"""
_DELETE = "DELETE FROM results WHERE key = ?"
# A counter is a live row whose value is the count as text; an expired one restarts at 1.
_INCR = """
    INSERT INTO results (key, value, is_ready, expires_at, updated_at)
    VALUES (?, '1', 1, ?, ?)
    ON CONFLICT (key) DO UPDATE SET
        value = CASE WHEN results.expires_at IS NULL OR results.expires_at > excluded.updated_at
                     THEN CAST(CAST(results.value AS INTEGER) + 1 AS TEXT) ELSE '1' END,
        expires_at = excluded.expires_at,
        updated_at = excluded.updated_at
    RETURNING CAST(value AS INTEGER)
"""
_CLEANUP = "DELETE FROM results WHERE expires_at IS NOT NULL AND expires_at <= ?"
_CLEANUP_EVERY = 1000
_WAIT_INTERVAL = 0.01


@final
class SQLiteBackend(ResultBackend):
    """A result backend keeping task results in a SQLite file.

    Args:
        path: The database file (made absolute at construction).
        url: The URL it was built from, for display.
        serializer: The result serializer name.
        accept: Content types accepted when reading.
        expires: Seconds a ready result lives; ``None`` keeps it.
        extended: Whether to store name, args, kwargs, worker, retries and queue.
        busy_timeout: Seconds to wait for another connection's write lock.

    """

    poll_interval = _WAIT_INTERVAL

    def __init__(
        self,
        *,
        path: str | os.PathLike[str],
        url: str = "",
        serializer: str = "json",
        accept: Iterable[str] = ("json",),
        expires: float | None = 86400.0,
        extended: bool = False,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        super().__init__(
            url or f"sqlite:///{self.path}",
            serializer=serializer,
            accept=accept,
            expires=expires,
            extended=extended,
        )
        self.busy_timeout = busy_timeout
        self._open_lock = threading.Lock()
        self._is_open = False
        self._connections = db.ThreadConnections(factory=self._connect)
        self._writes = itertools.count(1)
        # Per thread: (connection, data_version read before that thread's last get).
        self._seen = threading.local()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteBackend:
        """Build a backend from ``sqlite:///path`` or ``db+sqlite:///path``.

        Args:
            url: The URL.
            **options: :class:`~celeriac.backends.base.ResultBackend` keyword options.

        Raises:
            ImproperlyConfigured: the URL has no file path.

        """
        return cls(path=db.path_from_url(url, what="result backend"), url=url, **options)

    def __repr__(self) -> str:
        return f"<SQLiteBackend {self.path}>"

    def open(self) -> None:
        """Create the database file and its table if needed. Safe to call twice.

        Raises:
            BackendError: the file cannot be created or opened read-write.

        """
        with self._open_lock:
            if self._is_open:
                return
            with self._translate_errors():
                db.migrate(
                    self._connections.get(),
                    slot=db.BACKEND_SCHEMA_SLOT,
                    version=_SCHEMA_VERSION,
                    ddl=_SCHEMA,
                    error=BackendError,
                )
            self._is_open = True
        logger.debug("opened SQLite result backend %s", self.path)

    def close(self) -> None:
        """Close every connection. Safe to call twice."""
        with self._open_lock:
            self._connections.close_all()
            self._is_open = False

    # -- storage primitives ----------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """Return the stored value of ``key``; ``None`` if missing or expired."""
        with self._translate_errors():
            conn = self._connection()
            self._seen.value = (conn, db.data_version(conn))
            row = conn.execute(_GET, (key, time.time())).fetchone()
        return None if row is None else bytes(row[0])

    def set(self, key: str, value: bytes, *, ttl: float | None, is_ready: bool) -> None:
        """Store ``value`` in one statement; a non-ready value never replaces a ready one."""
        now = time.time()
        expires_at = None if ttl is None else now + ttl
        with self._translate_errors():
            self._connection().execute(_SET, (key, value, int(is_ready), expires_at, now, now))
        if next(self._writes) % _CLEANUP_EVERY == 0:
            self.cleanup()

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._translate_errors():
            self._connection().execute(_DELETE, (key,))

    def incr(self, key: str, *, ttl: float | None) -> int:
        """Add one to the counter ``key`` in one statement; return the new value."""
        now = time.time()
        with self._translate_errors():
            rows = (
                self._connection()
                .execute(_INCR, (key, None if ttl is None else now + ttl, now))
                .fetchall()
            )  # read to the end, so the statement (and its write) completes
        return int(rows[0][0])

    def wait_for_change(self, key: str, timeout: float) -> None:
        """Return once another connection commits (or ``timeout`` seconds pass).

        The baseline is the ``data_version`` read by this thread's last :meth:`get`, so
        a write landing between that read and this call is not missed.
        """
        deadline = time.monotonic() + timeout
        with self._translate_errors():
            conn = self._connection()
            seen = getattr(self._seen, "value", None)
            baseline = seen[1] if seen is not None and seen[0] is conn else None
            if baseline is None:
                baseline = db.data_version(conn)
            pace = db.PollPace(_WAIT_INTERVAL)  # fast first: the result often comes soon
            while db.data_version(conn) == baseline:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                time.sleep(pace.pause(remaining))

    def cleanup(self) -> None:
        """Delete expired results."""
        with self._translate_errors():
            deleted = self._connection().execute(_CLEANUP, (time.time(),)).rowcount
        if deleted:
            logger.debug("deleted %d expired results from %s", deleted, self.path)

    # -- internals -----------------------------------------------------------------

    def _translate_errors(self) -> AbstractContextManager[None]:
        return db.translate_errors(
            self.path,
            error=BackendError,
            busy_error=BackendError,
            busy_timeout=self.busy_timeout,
        )

    def _connect(self) -> sqlite3.Connection:
        return db.connect(self.path, busy_timeout=self.busy_timeout)

    def _connection(self) -> sqlite3.Connection:
        if not self._is_open:
            self.open()
        return self._connections.get()
