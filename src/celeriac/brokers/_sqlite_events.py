"""Monitoring events on the embedded SQLite broker: a short-lived table of batches.

Each publish is one row (an event or a batch of them). Receivers keep a cursor (the
highest id seen, starting at the newest row on their first call) and rows older than a
minute are deleted as new ones arrive, so the table stays small whether anyone listens
or not.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, final

from celeriac._internal import sqlite as db
from celeriac.brokers._sqlite_part import SQLitePart
from celeriac.brokers._topic import topic_matches
from celeriac.brokers.base import EventChannel
from celeriac.serialization import json_dumps, json_loads

__all__ = ["SQLiteEventChannel"]

_SCHEMA_VERSION = 1
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created REAL NOT NULL,
        routing_key TEXT NOT NULL,
        body TEXT NOT NULL
    )
    """,
)
_KEEP_SECONDS = 60.0
_PRUNE_EVERY = 200
_POLL = 0.02


@final
class SQLiteEventChannel(SQLitePart, EventChannel):
    """The event channel of :class:`~celeriac.brokers.sqlite.SQLiteBroker`."""

    schema_slot = db.EVENTS_SCHEMA_SLOT
    schema_version = _SCHEMA_VERSION
    schema = _SCHEMA

    def __init__(self, *, path: str, busy_timeout: float = 5.0) -> None:
        super().__init__(path=path, busy_timeout=busy_timeout)
        self._cursors: dict[str, int] = {}  # per routing key: the last event id seen
        self._published = itertools.count(1)

    def publish(self, routing_key: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Store the event (or batch) for the listeners."""
        now = time.time()
        with self._errors():
            conn = self._connections.get()
            conn.execute(
                "INSERT INTO events (created, routing_key, body) VALUES (?, ?, ?)",
                (now, routing_key, json_dumps(event)),
            )
            if next(self._published) % _PRUNE_EVERY == 0:
                conn.execute("DELETE FROM events WHERE created < ?", (now - _KEEP_SECONDS,))

    def receive(
        self, *, timeout: float, routing_key: str = "#"
    ) -> list[dict[str, Any] | list[dict[str, Any]]]:
        """Events stored since the last call; waits up to ``timeout`` for one."""
        deadline = time.monotonic() + timeout
        with self._errors():
            conn = self._connections.get()
            if routing_key not in self._cursors:
                row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
                self._cursors[routing_key] = int(row[0])
            while True:
                version = db.data_version(conn)
                rows = conn.execute(
                    "SELECT id, routing_key, body FROM events WHERE id > ? ORDER BY id",
                    (self._cursors[routing_key],),
                ).fetchall()
                if rows:
                    self._cursors[routing_key] = rows[-1][0]
                found = [
                    json_loads(body)
                    for _, key, body in rows
                    if routing_key == "#" or topic_matches(routing_key, key)
                ]
                if found:
                    return found
                while db.data_version(conn) == version:
                    if time.monotonic() >= deadline:
                        return []
                    time.sleep(_POLL)
