"""What the SQLite broker's mailbox and event channel share.

Their own tables, one connection per thread, and the broker's error translation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager

from celeriac._internal import sqlite as db
from celeriac.exceptions import BrokerError, OperationalError

__all__ = ["SQLitePart"]


class SQLitePart:
    """Tables of their own in the broker's file (one ``user_version`` slot each).

    Subclasses set ``schema_slot``, ``schema_version`` and ``schema``.

    Args:
        path: The broker's database file.
        busy_timeout: Seconds to wait for another connection's write lock.
    """

    schema_slot: int = 0
    schema_version: int = 1
    schema: Sequence[str] = ()

    def __init__(self, *, path: str, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._connections = db.ThreadConnections(factory=self._connect)

    def _connect(self) -> sqlite3.Connection:
        conn = db.connect(self.path, busy_timeout=self.busy_timeout)
        db.migrate(
            conn,
            slot=self.schema_slot,
            version=self.schema_version,
            ddl=self.schema,
            error=BrokerError,
        )
        return conn

    def _errors(self) -> AbstractContextManager[None]:
        return db.translate_errors(
            self.path,
            error=BrokerError,
            busy_error=OperationalError,
            busy_timeout=self.busy_timeout,
        )

    def close(self) -> None:
        """Close every connection."""
        self._connections.close_all()
