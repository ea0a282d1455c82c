"""Remote control for the embedded SQLite broker: two tables in the broker's file.

Commands are rows every worker reads (each keeps its own cursor: the highest id it has
seen, starting from the newest row when it starts listening); replies are rows a client
reads by its reply key. Rows older than five minutes are deleted on the next broadcast.
Waiting polls ``PRAGMA data_version`` like the broker itself does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, final

from celeriac._internal import sqlite as db
from celeriac.brokers._sqlite_part import SQLitePart
from celeriac.brokers.base import REVOKE_TTL, Mailbox
from celeriac.serialization import json_dumps, json_loads

__all__ = ["SQLiteMailbox"]

_SCHEMA_VERSION = 2
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS mailbox_commands (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created REAL NOT NULL,
        expires REAL,
        body TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS mailbox_replies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        reply_key TEXT NOT NULL,
        created REAL NOT NULL,
        body TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS mailbox_replies_key ON mailbox_replies (reply_key, id)",
    """
    CREATE TABLE IF NOT EXISTS mailbox_revoked (
        task_id TEXT PRIMARY KEY,
        expires REAL NOT NULL
    )
    """,
)
_KEEP_SECONDS = 300.0
_POLL = 0.01


@final
class SQLiteMailbox(SQLitePart, Mailbox):
    """The mailbox of :class:`~celeriac.brokers.sqlite.SQLiteBroker`.

    Args:
        path: The broker's database file.
        busy_timeout: Seconds to wait for another connection's write lock.
    """

    schema_slot = db.MAILBOX_SCHEMA_SLOT
    schema_version = _SCHEMA_VERSION
    schema = _SCHEMA

    def __init__(self, *, path: str, busy_timeout: float = 5.0) -> None:
        super().__init__(path=path, busy_timeout=busy_timeout)
        self._cursors: dict[str, int] = {}
        # A worker's wait for commands: every 20 ms, every 50 ms after 10 idle seconds.
        self._pace = db.PollPace(_POLL * 2, hot_for=0.0)

    # -- client -------------------------------------------------------------------

    def broadcast(self, command: dict[str, Any], *, expires: float | None = None) -> None:
        """Store ``command`` for every worker; drop rows older than five minutes."""
        now = time.time()
        with self._errors():
            conn = self._connections.get()
            conn.execute(
                "INSERT INTO mailbox_commands (created, expires, body) VALUES (?, ?, ?)",
                (now, expires, json_dumps(command)),
            )
            conn.execute("DELETE FROM mailbox_commands WHERE created < ?", (now - _KEEP_SECONDS,))
            conn.execute("DELETE FROM mailbox_replies WHERE created < ?", (now - _KEEP_SECONDS,))

    def collect(
        self, reply_key: str, ticket: str, *, timeout: float, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Read replies to ``ticket`` until ``timeout`` passes or ``limit`` arrived."""
        deadline = time.monotonic() + timeout
        replies: list[dict[str, Any]] = []
        last_id = 0
        with self._errors():
            conn = self._connections.get()
            while True:
                version = db.data_version(conn)
                rows = conn.execute(
                    "SELECT id, body FROM mailbox_replies WHERE reply_key = ? AND id > ?"
                    " ORDER BY id",
                    (reply_key, last_id),
                ).fetchall()
                for row_id, body in rows:
                    last_id = row_id
                    envelope = json_loads(body)
                    if envelope.get("ticket") == ticket:
                        replies.append(envelope["reply"])
                if limit is not None and len(replies) >= limit:
                    return replies[:limit]
                while db.data_version(conn) == version:
                    if time.monotonic() >= deadline:
                        return replies
                    time.sleep(_POLL)

    def release_replies(self, reply_key: str) -> None:
        """Delete what is left under ``reply_key``."""
        with self._errors():
            self._connections.get().execute(
                "DELETE FROM mailbox_replies WHERE reply_key = ?", (reply_key,)
            )

    # -- worker -------------------------------------------------------------------

    def _read_commands(self, node: str) -> list[dict[str, Any]]:
        conn = self._connections.get()
        cursor = self._cursors.get(node)
        if cursor is None:  # start listening now: older commands are not for us
            row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM mailbox_commands").fetchone()
            self._cursors[node] = int(row[0])
            return []
        rows = conn.execute(
            "SELECT id, expires, body FROM mailbox_commands WHERE id > ? ORDER BY id", (cursor,)
        ).fetchall()
        now = time.time()
        commands = []
        for row_id, expires, body in rows:
            self._cursors[node] = row_id
            if expires is None or expires > now:
                commands.append(json_loads(body))
        return commands

    async def afetch_commands(self, node: str, *, timeout: float) -> list[dict[str, Any]]:
        """Commands stored since the last call; waits up to ``timeout`` for one."""
        deadline = time.monotonic() + timeout
        with self._errors():
            conn = self._connections.get()
            while True:
                version = db.data_version(conn)
                commands = self._read_commands(node)
                if commands:
                    self._pace.active()
                    return commands
                while db.data_version(conn) == version:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    await asyncio.sleep(self._pace.pause(remaining))

    async def areply(self, reply_to: dict[str, Any], ticket: str, node: str, reply: Any) -> None:
        """Store ``{node: reply}`` under the client's reply key."""
        key = str(reply_to.get("routing_key") or "")
        envelope = {"ticket": ticket, "reply": {node: reply}}
        with self._errors():
            self._connections.get().execute(
                "INSERT INTO mailbox_replies (reply_key, created, body) VALUES (?, ?, ?)",
                (key, time.time(), json_dumps(envelope)),
            )

    # -- durable revokes -------------------------------------------------------------

    def store_revoked(self, task_ids: Sequence[str], *, ttl: float = REVOKE_TTL) -> None:
        """Remember ``task_ids`` as revoked for ``ttl`` seconds."""
        now = time.time()
        with self._errors():
            conn = self._connections.get()
            with db.immediate(conn):
                conn.executemany(
                    "INSERT INTO mailbox_revoked (task_id, expires) VALUES (?, ?)"
                    " ON CONFLICT (task_id) DO UPDATE SET expires = excluded.expires",
                    [(task_id, now + ttl) for task_id in task_ids],
                )
                conn.execute("DELETE FROM mailbox_revoked WHERE expires <= ?", (now,))

    def load_revoked(self) -> dict[str, float]:
        """Revoked ids that have not expired."""
        with self._errors():
            rows = (
                self._connections.get()
                .execute(
                    "SELECT task_id, expires FROM mailbox_revoked WHERE expires > ?", (time.time(),)
                )
                .fetchall()
            )
        return {str(task_id): float(expires) for task_id, expires in rows}
