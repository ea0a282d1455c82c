"""The ids this worker refuses to run: revoked tasks, remembered for three hours.

Filled from the broker's durable store at start (so a worker that starts after a revoke
refuses it too) and from ``revoke`` commands while running. Bounded: past 50,000 ids the
oldest are forgotten, as Celery's workers do.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from celeriac.brokers.base import REVOKE_TTL

__all__ = ["Revocations"]

MAX_REVOKED = 50_000


class Revocations:
    """A bounded, expiring set of revoked task ids."""

    def __init__(self, *, ttl: float = REVOKE_TTL, limit: int = MAX_REVOKED) -> None:
        self.ttl = ttl
        self.limit = limit
        self._ids: OrderedDict[str, float] = OrderedDict()

    def update(self, expiries: dict[str, float]) -> None:
        """Add ids with their unix expiry times (from the broker's store)."""
        for task_id, expires in expiries.items():
            self._put(task_id, expires)

    def add(self, task_ids: Iterable[str]) -> dict[str, float]:
        """Add ids revoked now; return them with their expiry times."""
        expires = time.time() + self.ttl
        added = {}
        for task_id in task_ids:
            self._put(task_id, expires)
            added[task_id] = self._ids.get(task_id, expires)
        return added

    def expiries(self) -> dict[str, float]:
        """The ids that have not expired, with their unix expiry times."""
        now = time.time()
        return {task_id: expires for task_id, expires in self._ids.items() if expires >= now}

    def _put(self, task_id: str, expires: float) -> None:
        self._ids[task_id] = max(expires, self._ids.get(task_id, 0.0))
        self._ids.move_to_end(task_id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __contains__(self, task_id: object) -> bool:
        expires = self._ids.get(task_id) if isinstance(task_id, str) else None
        if expires is None:
            return False
        if expires < time.time():
            del self._ids[str(task_id)]
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        now = time.time()
        return iter([task_id for task_id, expires in self._ids.items() if expires >= now])

    def __len__(self) -> int:
        return len(list(iter(self)))
