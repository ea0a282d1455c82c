"""The schedule store in a SQLite file (``celerybeat-schedule`` by default).

Several beat processes on one machine (or on a shared disk that supports SQLite's
locking) open the same file; connections are made as for the SQLite broker (WAL, a busy
timeout, one connection per thread, see :mod:`celeriac._internal.sqlite`). Tables:

``beat_state(name, last_run_at, total_run_count)``
    Run state; ``last_run_at`` is ISO 8601 in UTC.
``beat_lease(id = 1, owner, expires_at)``
    The leader lease: one row, ``expires_at`` in Unix seconds.
``beat_entries(name, definition, source)``
    Entry definitions as JSON (``DatabaseScheduler``), ``source`` ``config``/``runtime``.
``beat_meta(key, value)``
    ``schema_version``, and ``entries_version``, bumped by every definition change.

Every read-modify-write (taking the lease, claiming a run) is one ``BEGIN IMMEDIATE``
transaction, so two processes never both succeed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, final

from celeriac._internal import sqlite as db
from celeriac.beat.store import CONFIG, RunState, ScheduleStore, SchedulingError

__all__ = ["SQLiteScheduleStore"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_DDL = (
    "CREATE TABLE IF NOT EXISTS beat_state ("
    " name TEXT PRIMARY KEY, last_run_at TEXT NOT NULL, total_run_count INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS beat_lease ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS beat_entries ("
    " name TEXT PRIMARY KEY, definition TEXT NOT NULL, source TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS beat_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_BUMP_VERSION = (
    "INSERT INTO beat_meta (key, value) VALUES ('entries_version', '1')"
    " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def _from_iso(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


@final
class SQLiteScheduleStore(ScheduleStore):
    """A schedule store in one SQLite file.

    Args:
        path: The file (made absolute). A file that is not a SQLite database, such as
            the ``shelve`` file Celery's beat leaves behind, is moved to ``<path>.old``.
        busy_timeout: Seconds to wait for another process's write lock.
    """

    def __init__(self, *, path: str | os.PathLike[str], busy_timeout: float = 5.0) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.busy_timeout = busy_timeout
        self._connections = db.ThreadConnections(factory=self._connect)

    def __repr__(self) -> str:
        return f"<SQLiteScheduleStore {self.path}>"

    @property
    def location(self) -> str:
        """The file path."""
        return self.path

    def open(self) -> None:
        """Create the file and tables if needed."""
        self._call(lambda conn: None)

    def close(self) -> None:
        """Close every connection."""
        self._connections.close_all()

    def _connect(self) -> sqlite3.Connection:
        self._move_foreign_file()
        conn = db.connect(self.path, busy_timeout=self.busy_timeout)
        try:
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_foreign_file(self) -> None:
        try:
            with open(self.path, "rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return
        if header and header != _SQLITE_HEADER:
            os.replace(self.path, self.path + ".old")
            logger.warning(
                "%s is not a celeriac schedule (a Celery shelve file?): moved it to %s.old "
                "and starting with a fresh schedule",
                self.path,
                self.path,
            )

    def _call(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        with db.translate_errors(
            self.path,
            error=SchedulingError,
            busy_error=SchedulingError,
            busy_timeout=self.busy_timeout,
        ):
            return operation(self._connections.get())

    # -- the leader lease ---------------------------------------------------------------

    def acquire_lease(self, owner: str, *, now: dt.datetime, ttl: float) -> bool:
        """Take the lease if free or expired, or renew ours."""
        stamp = now.timestamp()

        def acquire(conn: sqlite3.Connection) -> bool:
            with db.immediate(conn):
                row = conn.execute("SELECT owner, expires_at FROM beat_lease").fetchone()
                if row is not None and row[0] != owner and row[1] > stamp:
                    return False
                conn.execute(
                    "INSERT INTO beat_lease (id, owner, expires_at) VALUES (1, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner,"
                    " expires_at = excluded.expires_at",
                    (owner, stamp + ttl),
                )
                return True

        return self._call(acquire)

    def release_lease(self, owner: str) -> None:
        """Delete the lease row if ``owner`` holds it."""
        self._call(lambda conn: conn.execute("DELETE FROM beat_lease WHERE owner = ?", (owner,)))

    # -- run state ----------------------------------------------------------------------

    def load_states(self, missing: Mapping[str, RunState] | None = None) -> dict[str, RunState]:
        """Every run state, after inserting ``missing`` ones that have none."""

        def load(conn: sqlite3.Connection) -> dict[str, RunState]:
            if missing:
                with db.immediate(conn):
                    conn.executemany(
                        "INSERT INTO beat_state (name, last_run_at, total_run_count)"
                        " VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                        [(n, _iso(s.last_run_at), s.total_run_count) for n, s in missing.items()],
                    )
            rows = conn.execute("SELECT name, last_run_at, total_run_count FROM beat_state")
            return {name: RunState(_from_iso(last), count) for name, last, count in rows}

        return self._call(load)

    def claim_run(
        self, name: str, *, expected: RunState, new: RunState, owner: str, now: dt.datetime
    ) -> bool:
        """Record a run if the state is ``expected`` and ``owner`` holds the lease."""

        def claim(conn: sqlite3.Connection) -> bool:
            with db.immediate(conn):
                lease = conn.execute("SELECT owner, expires_at FROM beat_lease").fetchone()
                if lease is None or lease[0] != owner or lease[1] <= now.timestamp():
                    return False
                cursor = conn.execute(
                    "UPDATE beat_state SET last_run_at = ?, total_run_count = ?"
                    " WHERE name = ? AND last_run_at = ? AND total_run_count = ?",
                    (
                        _iso(new.last_run_at),
                        new.total_run_count,
                        name,
                        _iso(expected.last_run_at),
                        expected.total_run_count,
                    ),
                )
                return cursor.rowcount == 1

        return self._call(claim)

    def forget_states(self, names: Iterable[str]) -> None:
        """Delete these run states."""
        rows = [(name,) for name in names]

        def forget(conn: sqlite3.Connection) -> None:
            with db.immediate(conn):
                conn.executemany("DELETE FROM beat_state WHERE name = ?", rows)

        if rows:
            self._call(forget)

    # -- entry definitions --------------------------------------------------------------

    def definitions_version(self) -> int:
        """The ``entries_version`` counter."""
        row = self._call(
            lambda conn: conn.execute(
                "SELECT value FROM beat_meta WHERE key = 'entries_version'"
            ).fetchone()
        )
        return int(row[0]) if row is not None else 0

    def load_definitions(self) -> dict[str, dict[str, Any]]:
        """Every stored definition."""
        rows = self._call(
            lambda conn: conn.execute("SELECT name, definition FROM beat_entries").fetchall()
        )
        return {name: json.loads(text) for name, text in rows}

    def save_definition(self, name: str, definition: Mapping[str, Any], *, source: str) -> None:
        """Insert or replace a definition."""
        text = json.dumps(dict(definition), sort_keys=True)

        def save(conn: sqlite3.Connection) -> None:
            with db.immediate(conn):
                conn.execute(
                    "INSERT INTO beat_entries (name, definition, source) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,"
                    " source = excluded.source",
                    (name, text, source),
                )
                conn.execute(_BUMP_VERSION)

        self._call(save)

    def delete_definition(self, name: str) -> bool:
        """Delete a definition and its run state."""

        def delete(conn: sqlite3.Connection) -> bool:
            with db.immediate(conn):
                cursor = conn.execute("DELETE FROM beat_entries WHERE name = ?", (name,))
                conn.execute("DELETE FROM beat_state WHERE name = ?", (name,))
                conn.execute(_BUMP_VERSION)
                return cursor.rowcount == 1

        return self._call(delete)

    def replace_config_definitions(self, definitions: Mapping[str, Mapping[str, Any]]) -> None:
        """Make the ``config`` definitions exactly these, in one transaction."""
        texts = {name: json.dumps(dict(d), sort_keys=True) for name, d in definitions.items()}

        def replace(conn: sqlite3.Connection) -> None:
            with db.immediate(conn):
                stored = dict(
                    conn.execute(
                        "SELECT name, definition FROM beat_entries WHERE source = ?", (CONFIG,)
                    ).fetchall()
                )
                if stored == texts and not _shadowed(conn, texts):
                    return
                gone = [(name,) for name in stored if name not in texts]
                conn.executemany("DELETE FROM beat_entries WHERE name = ?", gone)
                conn.executemany("DELETE FROM beat_state WHERE name = ?", gone)
                conn.executemany(
                    "INSERT INTO beat_entries (name, definition, source) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,"
                    " source = excluded.source",
                    [(name, text, CONFIG) for name, text in texts.items()],
                )
                conn.execute(_BUMP_VERSION)

        self._call(replace)


def _migrate(conn: sqlite3.Connection) -> None:
    # The schema version is a row of beat_meta (PRAGMA user_version's bytes belong to the
    # broker, backend, mailbox and events, which may share this file).
    with db.immediate(conn):
        for statement in _DDL:
            conn.execute(statement)
        row = conn.execute("SELECT value FROM beat_meta WHERE key = 'schema_version'").fetchone()
        found = int(row[0]) if row is not None else 0
        if found > _SCHEMA_VERSION:
            raise SchedulingError(
                f"schedule schema version {found} is newer than this celeriac's"
                f" ({_SCHEMA_VERSION}); upgrade celeriac"
            )
        if found < _SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO beat_meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(_SCHEMA_VERSION),),
            )


def _shadowed(conn: sqlite3.Connection, texts: Mapping[str, str]) -> bool:
    """Whether a ``runtime`` definition has the name of a configured one."""
    names = list(texts)
    if not names:
        return False
    marks = ",".join("?" * len(names))
    row = conn.execute(
        f"SELECT 1 FROM beat_entries WHERE source != ? AND name IN ({marks}) LIMIT 1",
        (CONFIG, *names),
    ).fetchone()
    return row is not None
