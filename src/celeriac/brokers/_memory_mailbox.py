"""Remote control for the memory broker: commands and replies kept in its named store."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, final

from celeriac.brokers.base import REVOKE_TTL, Mailbox

if TYPE_CHECKING:
    from celeriac.brokers._memory_store import Store

__all__ = ["MemoryMailbox"]

_POLL = 0.005


@final
class MemoryMailbox(Mailbox):
    """The mailbox of a :class:`~celeriac.brokers.memory.MemoryBroker` store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cursors: dict[str, int] = {}

    def broadcast(self, command: dict[str, Any], *, expires: float | None = None) -> None:
        """Append ``command`` for every listening worker."""
        with self._store.condition:
            self._store.commands.append((expires, copy.deepcopy(command)))
            self._store.notify()

    def collect(
        self, reply_key: str, ticket: str, *, timeout: float, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Replies to ``ticket`` until ``timeout`` passes or ``limit`` arrived."""
        deadline = time.monotonic() + timeout
        store = self._store

        def matching() -> list[dict[str, Any]]:
            found = store.replies.get(reply_key, [])
            return [r["reply"] for r in found if r["ticket"] == ticket]

        with store.condition:
            while True:
                replies = matching()
                remaining = deadline - time.monotonic()
                if (limit is not None and len(replies) >= limit) or remaining <= 0:
                    return replies[:limit] if limit is not None else replies
                store.condition.wait(remaining)

    def release_replies(self, reply_key: str) -> None:
        """Drop what is left under ``reply_key``."""
        with self._store.condition:
            self._store.replies.pop(reply_key, None)

    def _read(self, node: str) -> list[dict[str, Any]]:
        with self._store.condition:
            commands = self._store.commands
            cursor = self._cursors.get(node)
            self._cursors[node] = len(commands)
            if cursor is None:  # start listening now
                return []
            now = time.time()
            return [
                copy.deepcopy(body)
                for expires, body in commands[cursor:]
                if expires is None or expires > now
            ]

    async def afetch_commands(self, node: str, *, timeout: float) -> list[dict[str, Any]]:
        """Commands broadcast since the last call; waits up to ``timeout`` for one."""
        deadline = time.monotonic() + timeout
        while True:
            commands = self._read(node)
            if commands or time.monotonic() >= deadline:
                return commands
            await asyncio.sleep(_POLL)

    def store_revoked(self, task_ids: Sequence[str], *, ttl: float = REVOKE_TTL) -> None:
        """Remember ``task_ids`` as revoked for ``ttl`` seconds."""
        expires = time.time() + ttl
        with self._store.condition:
            for task_id in task_ids:
                self._store.revoked[task_id] = expires

    def load_revoked(self) -> dict[str, float]:
        """Revoked ids that have not expired."""
        now = time.time()
        with self._store.condition:
            return {k: v for k, v in self._store.revoked.items() if v > now}

    async def areply(self, reply_to: dict[str, Any], ticket: str, node: str, reply: Any) -> None:
        """Hand ``{node: reply}`` to the waiting client."""
        key = str(reply_to.get("routing_key") or "")
        with self._store.condition:
            self._store.replies.setdefault(key, []).append(
                {"ticket": ticket, "reply": {node: copy.deepcopy(reply)}}
            )
            self._store.notify()
