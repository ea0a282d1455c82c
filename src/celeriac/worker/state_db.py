"""``-S/--statedb``: what a worker remembers across restarts (revoked ids, its clock).

A small SQLite file (Celery keeps a ``shelve`` file; celeriac does not read that
format: a file that is not SQLite is moved aside to ``<path>.old`` with a warning and a
new one is started). Revoked ids are written when they are revoked, so a worker killed
with SIGKILL still remembers them; the clock is written at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator

__all__ = ["StateDB"]

logger = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS revoked (task_id TEXT PRIMARY KEY, expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class StateDB:
    """The state file at ``path`` (opened on first use, from the worker's loop thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                logger.warning(
                    "%s is not a celeriac state file (%s): moved to .old", self.path, exc
                )
                os.replace(self.path, self.path + ".old")
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        try:
            for statement in _SCHEMA:
                db.execute(statement)
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        with db:
            yield db

    def load(self) -> tuple[dict[str, float], int]:
        """Revoked ids that have not expired (with their unix expiry) and the saved clock."""
        with self._transaction() as db:
            db.execute("DELETE FROM revoked WHERE expires < ?", (time.time(),))
            revoked = dict(db.execute("SELECT task_id, expires FROM revoked").fetchall())
            row = db.execute("SELECT value FROM meta WHERE key = 'clock'").fetchone()
        return revoked, int(row[0]) if row else 0

    def add_revoked(self, expiries: dict[str, float]) -> None:
        """Remember these revoked ids until their expiry times."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO revoked (task_id, expires) VALUES (?, ?) "
                "ON CONFLICT (task_id) DO UPDATE SET expires = max(expires, excluded.expires)",
                list(expiries.items()),
            )

    def save_clock(self, clock: int) -> None:
        """Remember the logical clock."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock', ?)", (str(clock),)
            )

    def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            self._db.close()
            self._db = None
