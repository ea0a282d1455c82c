"""The SQL of the SQLite broker and the transactions built from it.

Every function takes a connection and runs on whichever face (blocking or asyncio) called
it; none of them waits for anything but SQLite's own lock. Kept apart from
:mod:`celeriac.brokers.sqlite` so that module reads as the broker's behaviour.

Indexes: ``messages_ready`` serves the lease query in delivery order (priority, then id)
over unleased rows; ``messages_due`` and ``messages_leased`` answer "when does the next
eta come due / the next lease run out" in O(log n), so an idle consumer knows when to
look again and an empty check never scans a queue.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from celeriac._internal import sqlite as db
from celeriac.brokers._leases import (
    clamp_priority,
    encode_json,
    lease_tag,
    log_lost_lease,
)
from celeriac.brokers.base import Delivery, dead_letter_copy
from celeriac.exceptions import DecodeError
from celeriac.protocol import Message
from celeriac.serialization import json_loads

__all__ = [
    "INSERT",
    "PEEK",
    "PURGE",
    "SCHEMA",
    "SIZE",
    "ack",
    "dead_letter",
    "message_from",
    "message_row",
    "renew",
    "requeue",
    "reserve",
]

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL,
        leased_until REAL,
        lease_token TEXT,
        redelivered INTEGER NOT NULL DEFAULT 0,
        exchange TEXT NOT NULL DEFAULT '',
        routing_key TEXT NOT NULL DEFAULT '',
        headers TEXT NOT NULL,
        properties TEXT NOT NULL,
        content_type TEXT,
        content_encoding TEXT,
        body BLOB NOT NULL,
        published_at REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS messages_ready ON messages"
    " (queue, priority DESC, id, not_before) WHERE leased_until IS NULL",
    "CREATE INDEX IF NOT EXISTS messages_due ON messages"
    " (queue, not_before) WHERE leased_until IS NULL",
    "CREATE INDEX IF NOT EXISTS messages_leased ON messages"
    " (queue, leased_until) WHERE leased_until IS NOT NULL",
)

_COLUMNS = (
    "id, queue, exchange, routing_key, headers, properties,"
    " content_type, content_encoding, body, redelivered"
)
INSERT = (
    "INSERT INTO messages (queue, priority, not_before, exchange, routing_key, headers,"
    " properties, content_type, content_encoding, body, published_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UNLEASED = "queue = ? AND (leased_until IS NULL OR leased_until < ?)"
PURGE = f"DELETE FROM messages WHERE {_UNLEASED}"
SIZE = f"SELECT COUNT(*) FROM messages WHERE {_UNLEASED}"
PEEK = f"SELECT {_COLUMNS} FROM messages WHERE {_UNLEASED} AND not_before <= ? ORDER BY id LIMIT ?"
_NEXT_READY = "SELECT MIN(not_before) FROM messages WHERE queue = ? AND leased_until IS NULL"
_NEXT_EXPIRY = "SELECT MIN(leased_until) FROM messages WHERE queue = ? AND leased_until IS NOT NULL"
# INDEXED BY: without statistics the planner would pick messages_due and sort the queue.
_READY = (
    "SELECT priority, id FROM messages INDEXED BY messages_ready"
    " WHERE queue = ? AND leased_until IS NULL AND not_before <= ?"
    " ORDER BY priority DESC, id LIMIT ?"
)
_EXPIRED = (
    "SELECT priority, id FROM messages WHERE queue = ? AND leased_until < ?"
    " ORDER BY priority DESC, id LIMIT ?"
)
_LEASE = "UPDATE messages SET leased_until = ?, lease_token = ?, redelivered = ? WHERE id = ?"
_DELETE = "DELETE FROM messages WHERE id = ? AND lease_token = ?"
_REQUEUE = (
    "UPDATE messages SET leased_until = NULL, lease_token = NULL, redelivered = 1"
    " WHERE id = ? AND lease_token = ?"
)
_RENEW = "UPDATE messages SET leased_until = ? WHERE id = ? AND lease_token = ?"
_DEAD_LETTER = (
    "UPDATE messages SET queue = ?, exchange = '', routing_key = ?, headers = ?,"
    " not_before = ?, leased_until = NULL, lease_token = NULL, redelivered = 0"
    " WHERE id = ? AND lease_token = ?"
)
_FETCH_CHUNK = 500

# A candidate row: (-priority, id, was leased before), so sorting gives delivery order.
_Candidate = tuple[int, int, int]


def _unjson(text: str) -> dict[str, Any]:
    try:
        value = json_loads(text)
    except (ValueError, DecodeError):
        # Handed on rather than raised, so the worker dead-letters it instead of the
        # queue wedging on a row nobody can read.
        return {"x-undecodable": text}
    return value if isinstance(value, dict) else {"x-undecodable": text}


def message_row(
    message: Message, exchange: str, routing_key: str, eta: float | None, now: float
) -> tuple[Any, ...]:
    """Return the parameters of :data:`INSERT` for one message."""
    return (
        routing_key,
        clamp_priority(message.priority),
        now if eta is None else eta,
        exchange,
        routing_key,
        encode_json(message.headers, "headers"),
        encode_json(message.properties, "properties"),
        message.content_type,
        message.content_encoding,
        message.body,
        now,
    )


def message_from(row: Sequence[Any]) -> Message:
    """Rebuild the message of a row selected with the broker's column list."""
    return Message(bytes(row[8]), _unjson(row[4]), _unjson(row[5]), row[6], row[7])


def _candidates(
    conn: sqlite3.Connection, queues: Sequence[str], limit: int, now: float
) -> tuple[list[_Candidate], float | None]:
    """Find the best ``limit`` deliverable rows of each queue, and when more come due."""
    found: list[_Candidate] = []
    due: list[float] = []
    for queue in queues:
        next_ready = conn.execute(_NEXT_READY, (queue,)).fetchone()[0]
        if next_ready is not None and next_ready <= now:
            found.extend((-p, i, 0) for p, i in conn.execute(_READY, (queue, now, limit)))
        elif next_ready is not None:
            due.append(next_ready)
        next_expiry = conn.execute(_NEXT_EXPIRY, (queue,)).fetchone()[0]
        if next_expiry is not None and next_expiry < now:
            found.extend((-p, i, 1) for p, i in conn.execute(_EXPIRED, (queue, now, limit)))
        elif next_expiry is not None:
            due.append(next_expiry)
    return found, min(due, default=None)


def _rows_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, Sequence[Any]]:
    rows: dict[int, Sequence[Any]] = {}
    for start in range(0, len(ids), _FETCH_CHUNK):
        chunk = ids[start : start + _FETCH_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE id IN ({marks})", chunk):
            rows[row[0]] = row
    return rows


def reserve(
    conn: sqlite3.Connection, queues: Sequence[str], limit: int, visibility_timeout: float
) -> tuple[list[Delivery], float | None]:
    """Lease up to ``limit`` of the best deliverable messages across ``queues``.

    Returns:
        The deliveries, best first, and (when there are none) the unix time at which an
        eta comes due or a lease runs out, ``None`` if nothing is pending.

    """
    queues = list(dict.fromkeys(queues))
    # Looking first without the write lock keeps idle consumers from queueing for it.
    found, due = _candidates(conn, queues, limit, time.time())
    if not found:
        return [], due
    with db.immediate(conn):
        now = time.time()
        found, due = _candidates(conn, queues, limit, now)
        chosen = sorted(found)[:limit]
        rows = _rows_by_id(conn, [row_id for _, row_id, _ in chosen])
        token = uuid.uuid4().hex
        deliveries = []
        leases = []
        for _, row_id, was_leased in chosen:
            row = rows[row_id]
            redelivered = bool(row[9] or was_leased)
            leases.append((now + visibility_timeout, token, int(redelivered), row_id))
            deliveries.append(
                Delivery(
                    message=message_from(row),
                    queue=row[1],
                    tag=(row_id, token),
                    exchange=row[2],
                    routing_key=row[3],
                    redelivered=redelivered,
                )
            )
        conn.executemany(_LEASE, leases)
    return deliveries, (due if not deliveries else None)


def _apply_leased(
    conn: sqlite3.Connection,
    sql: str,
    deliveries: Sequence[Delivery],
    params: Callable[[Delivery], tuple[Any, ...]],
    action: str,
) -> None:
    """Run ``sql`` once per delivery (one transaction); warn about lost leases."""
    lost = []

    def run() -> None:
        for delivery in deliveries:
            if conn.execute(sql, params(delivery)).rowcount == 0:
                lost.append(delivery)

    if len(deliveries) > 1:
        with db.immediate(conn):
            run()
    else:
        run()
    for delivery in lost:
        log_lost_lease(action, delivery)


def ack(conn: sqlite3.Connection, deliveries: Sequence[Delivery]) -> None:
    """Delete the messages whose leases are still held."""
    _apply_leased(conn, _DELETE, deliveries, lease_tag, "ack")


def requeue(conn: sqlite3.Connection, deliveries: Sequence[Delivery]) -> None:
    """Release the leases still held, marking the messages redelivered."""
    _apply_leased(conn, _REQUEUE, deliveries, lease_tag, "requeue")


def renew(
    conn: sqlite3.Connection, deliveries: Sequence[Delivery], visibility_timeout: float
) -> None:
    """Extend the leases still held to ``visibility_timeout`` from now."""
    until = time.time() + visibility_timeout
    _apply_leased(conn, _RENEW, deliveries, lambda d: (until, *lease_tag(d)), "renew")


def dead_letter(
    conn: sqlite3.Connection, delivery: Delivery, reason: str, dead_letter_queue: str
) -> None:
    """Move a leased message to ``dead_letter_queue`` in one statement, body intact."""
    headers = encode_json(dead_letter_copy(delivery, reason).headers, "headers")
    row_id, token = lease_tag(delivery)
    params = (dead_letter_queue, dead_letter_queue, headers, time.time())
    _apply_leased(conn, _DEAD_LETTER, [delivery], lambda _: (*params, row_id, token), "dead-letter")
