"""SQLite plumbing shared by the SQLite broker and the SQLite result backend.

Both engines keep one database file that several processes and threads open at once, so
every connection is made the same way: WAL journal (readers never block the writer),
``synchronous=NORMAL`` (a commit survives a crashed process; power loss may lose the last
few), a busy timeout, and autocommit mode with explicit ``BEGIN IMMEDIATE`` transactions.

Each thread gets its own connection (:class:`ThreadConnections`): a ``sqlite3`` connection
must not be used by two threads at once, and one per thread needs no lock. Connections
inherited through ``fork()`` are never used or closed by the child; SQLite forbids it.

The schema version of each engine lives in ``PRAGMA user_version``, one byte per engine
(:func:`migrate`), so a broker and a backend can share a file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import final

from celeriac.exceptions import CeleriacError, ImproperlyConfigured

__all__ = [
    "BACKEND_SCHEMA_SLOT",
    "BROKER_SCHEMA_SLOT",
    "EVENTS_SCHEMA_SLOT",
    "MAILBOX_SCHEMA_SLOT",
    "PollPace",
    "ThreadConnections",
    "abandon",
    "connect",
    "data_version",
    "immediate",
    "is_busy",
    "migrate",
    "path_from_url",
    "translate_errors",
]

logger = logging.getLogger(__name__)

#: Which byte of ``PRAGMA user_version`` holds each engine's schema version.
BROKER_SCHEMA_SLOT = 0
BACKEND_SCHEMA_SLOT = 1
MAILBOX_SCHEMA_SLOT = 2
EVENTS_SCHEMA_SLOT = 3

# SQLite primary result codes (the low byte of extended codes).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

# Retrying the switch of a new database file to WAL.
_WAL_SWITCH_TIMEOUT = 5.0
_WAL_SWITCH_PAUSE = 0.005

# Connections a forked child inherited: closing them could disturb the parent's locks and
# WAL files, and letting them be garbage-collected closes them, so they are kept here.
_INHERITED: list[sqlite3.Connection] = []


def path_from_url(url: str, *, what: str) -> str:
    """Return the absolute database path of ``sqlite:///relative`` or ``sqlite:////abs``.

    A leading ``db+`` (Celery's SQLAlchemy-style result URL) is accepted.

    Raises:
        ImproperlyConfigured: the URL is not a file URL, or names an in-memory database,
            which other processes could not share.

    """
    scheme, sep, rest = url.removeprefix("db+").partition("://")
    if scheme != "sqlite" or not sep:
        raise ImproperlyConfigured(f"{what} URL {url!r} is not a sqlite:///path URL")
    if rest and not rest.startswith("/"):
        raise ImproperlyConfigured(
            f"{what} URL {url!r} names a host; use sqlite:///relative or sqlite:////absolute"
        )
    path = rest[1:].partition("?")[0]
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        raise ImproperlyConfigured(
            f"{what} URL {url!r} has no file path; an in-memory SQLite database cannot be"
            " shared between processes, use e.g. sqlite:///celeriac.sqlite3"
        )
    return os.path.abspath(path)


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` means another connection holds the lock (``SQLITE_BUSY``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc)
    return "locked" in text or "busy" in text


def _filesystem_problem(path: str) -> str | None:
    """Say what on disk keeps ``path`` from being opened read-write, if anything."""
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        return f"directory {parent} does not exist"
    if os.path.isdir(path):
        return "it is a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"permission denied on directory {parent} (WAL needs to create files there)"
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return "permission denied"
    return None


@contextmanager
def translate_errors(
    path: str,
    *,
    error: type[CeleriacError],
    busy_error: type[CeleriacError],
    busy_timeout: float,
) -> Iterator[None]:
    """Turn ``sqlite3`` errors into celeriac errors naming ``path``, chained.

    Args:
        path: The database file, for the message.
        error: The class raised for most failures (``BrokerError``, ``BackendError``).
        busy_error: The class raised when the database stayed locked too long.
        busy_timeout: The busy timeout in seconds, for the message.

    """
    try:
        yield
    except sqlite3.Error as exc:
        if is_busy(exc):
            raise busy_error(
                f"SQLite database {path} is locked by another connection"
                f" (gave up after waiting up to {busy_timeout:g} s: {exc})"
            ) from exc
        problem = _filesystem_problem(path)
        if problem is not None:
            raise error(f"cannot open SQLite database {path}: {problem}") from exc
        raise error(f"SQLite error on {path}: {exc}") from exc


def connect(path: str, *, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with WAL, ``synchronous=NORMAL`` and a busy timeout.

    The connection may be closed from another thread (``close()`` of the owner), but is
    only ever used by one thread at a time.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        _use_wal(conn, deadline=time.monotonic() + max(busy_timeout, _WAL_SWITCH_TIMEOUT))
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, *, deadline: float) -> None:
    # Switching a new file to WAL fails at once, without the busy handler, while another
    # process is switching it too; so retry here. Once switched, the mode is persistent.
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_SWITCH_PAUSE)


def abandon(conn: sqlite3.Connection) -> None:
    """Drop a connection inherited through ``fork()`` without closing it, ever."""
    _INHERITED.append(conn)


def data_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA data_version``: changes whenever another connection commits."""
    row = conn.execute("PRAGMA data_version").fetchone()
    return int(row[0])


class PollPace:
    """How long a wait pauses between two reads of ``data_version``.

    SQLite cannot notify another process, so waiters poll. The pace adapts: ``fast``
    (1 ms) for ``hot_for`` seconds after the last activity (:meth:`active`: something
    was found, or a wait began), so back-to-back round trips each see the other side's
    commit within a millisecond or two; then ``interval``; and after ``cool_after``
    seconds without activity, ``cold`` (at least ``interval``), so an idle process
    wakes up less often than a merely quiet one.
    """

    __slots__ = ("_active_at", "_clock", "cold", "cool_after", "fast", "hot_for", "interval")

    def __init__(
        self,
        interval: float,
        *,
        fast: float = 0.001,
        hot_for: float = 1.0,
        cold: float = 0.05,
        cool_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.fast = min(fast, interval)
        self.hot_for = hot_for
        self.cold = max(cold, interval)
        self.cool_after = cool_after
        self._clock = clock
        self._active_at = clock()

    def active(self) -> None:
        """Something happened: poll fast for a while."""
        self._active_at = self._clock()

    def pause(self, remaining: float | None = None) -> float:
        """Seconds to sleep before the next read (never more than ``remaining``)."""
        quiet = self._clock() - self._active_at
        if quiet < self.hot_for:
            pause = self.fast
        elif quiet < self.cool_after:
            pause = self.interval
        else:
            pause = self.cold
        return pause if remaining is None else max(min(pause, remaining), 0.0)


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a ``BEGIN IMMEDIATE`` transaction, committed unless the block raises.

    It takes the write lock up front, so what is read inside it cannot be changed by
    another writer before the commit.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def migrate(
    conn: sqlite3.Connection,
    *,
    slot: int,
    version: int,
    ddl: Sequence[str],
    error: type[CeleriacError],
) -> None:
    """Create an engine's tables (``IF NOT EXISTS``) and record its schema version.

    Args:
        conn: An autocommit connection.
        slot: The byte of ``PRAGMA user_version`` that belongs to the engine.
        version: The engine's current schema version (1..255).
        ddl: The statements creating the engine's tables and indexes.
        error: Raised when the file was written by a newer schema version.

    """
    shift = 8 * slot

    def stored() -> tuple[int, int]:
        whole = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return whole, (whole >> shift) & 0xFF

    if stored()[1] == version:
        return
    with immediate(conn):
        whole, found = stored()
        if found > version:
            raise error(
                f"database schema version {found} is newer than this celeriac's ({version});"
                " upgrade celeriac"
            )
        if found < version:
            for statement in ddl:
                conn.execute(statement)
            updated = (whole & ~(0xFF << shift)) | (version << shift)
            conn.execute(f"PRAGMA user_version = {int(updated)}")
            logger.debug("schema slot %d upgraded from version %d to %d", slot, found, version)


@final
class ThreadConnections:
    """One connection per thread, all closed together by :meth:`close_all`.

    Args:
        factory: Makes a new connection.

    """

    def __init__(self, *, factory: Callable[[], sqlite3.Connection]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._local = threading.local()
        self._owned: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._pid = os.getpid()

    def get(self) -> sqlite3.Connection:
        """Return the calling thread's connection, made on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._pid == os.getpid():
            return conn
        conn = self._factory()
        with self._lock:
            if self._pid != os.getpid():
                self._abandon_inherited()
            self._close_orphans()
            self._owned.append((threading.current_thread(), conn))
        self._local.conn = conn
        return conn

    def close_all(self) -> None:
        """Close every connection made so far (idempotent)."""
        with self._lock:
            if self._pid != os.getpid():
                self._abandon_inherited()
            owned, self._owned = self._owned, []
            self._local = threading.local()
        for _, conn in owned:
            conn.close()

    def _abandon_inherited(self) -> None:
        for _, conn in self._owned:
            abandon(conn)
        self._owned = []
        self._local = threading.local()
        self._pid = os.getpid()

    def _close_orphans(self) -> None:
        # Threads come and go (thread pools, to_thread); their connections must not pile up.
        alive = []
        for thread, conn in self._owned:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                conn.close()
        self._owned = alive
