"""Time series for the live charts, and per-task-name statistics.

:class:`Series` counts finished tasks into fixed-width time buckets (two seconds each,
five minutes kept by default) and keeps a bounded sample of runtimes per bucket for the
percentiles. :class:`TaskTypes` keeps, per task name, how many reached each state and a
bounded window of recent runtimes. Both take the clock as an argument, so tests never
sleep.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Series", "TaskTypes", "percentile"]

#: Fewest points a series returns.
MIN_POINTS = 30

#: Event type -> the counter it moves in a bucket.
_COUNTED = {
    "task-received": "received",
    "task-succeeded": "succeeded",
    "task-failed": "failed",
    "task-retried": "retried",
    "task-revoked": "revoked",
}


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of an ascending sequence (``None`` when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True)
class _Bucket:
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    revoked: int = 0
    seen: int = 0
    runtimes: list[float] = field(default_factory=list)


class Series:
    """Task throughput, failures and runtime percentiles over the last few minutes.

    Args:
        bucket_seconds: Width of one point.
        size: Points kept.
        max_samples: Runtimes kept per bucket (a uniform reservoir sample past that).
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        *,
        bucket_seconds: float = 2.0,
        size: int = 150,
        max_samples: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket_seconds = bucket_seconds
        self.size = size
        self.max_samples = max_samples
        self.clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()
        self._random = random.Random(0)
        self._first = self._index(clock())

    def _index(self, at: float) -> int:
        return math.floor(at / self.bucket_seconds)

    def record(
        self, event_type: str, runtime: float | None = None, at: float | None = None
    ) -> None:
        """Count one task event at ``at`` (now, or clamped into the kept window)."""
        counter = _COUNTED.get(event_type)
        if counter is None:
            return
        now = self._index(self.clock())
        index = now if at is None else min(now, max(now - self.size + 1, self._index(at)))
        with self._lock:
            bucket = self._buckets.get(index)
            if bucket is None:
                bucket = self._buckets[index] = _Bucket()
                for old in [i for i in self._buckets if i <= now - self.size]:
                    del self._buckets[old]
            setattr(bucket, counter, getattr(bucket, counter) + 1)
            if counter == "succeeded" and runtime is not None and runtime >= 0:
                self._sample(bucket, runtime)

    def _sample(self, bucket: _Bucket, runtime: float) -> None:
        bucket.seen += 1
        if len(bucket.runtimes) < self.max_samples:
            bucket.runtimes.append(runtime)
            return
        slot = self._random.randrange(bucket.seen)
        if slot < self.max_samples:
            bucket.runtimes[slot] = runtime

    def points(self) -> list[dict[str, Any]]:
        """One point per bucket, oldest first: counts per second and runtime percentiles.

        The points start when this series was made (at least :data:`MIN_POINTS` back), so
        a young dashboard does not draw minutes of nothing.
        """
        now = self._index(self.clock())
        start = max(now - self.size + 1, min(self._first, now - MIN_POINTS + 1))
        with self._lock:
            snapshot = {
                i: (b.received, b.succeeded, b.failed, b.retried, b.revoked, sorted(b.runtimes))
                for i, b in self._buckets.items()
            }
        out = []
        width = self.bucket_seconds
        for index in range(start, now + 1):
            received, succeeded, failed, retried, revoked, runtimes = snapshot.get(
                index, (0, 0, 0, 0, 0, [])
            )
            out.append(
                {
                    "t": index * width,
                    "received": received / width,
                    "succeeded": succeeded / width,
                    "failed": failed / width,
                    "retried": retried / width,
                    "revoked": revoked / width,
                    "p50": percentile(runtimes, 0.50),
                    "p90": percentile(runtimes, 0.90),
                    "p99": percentile(runtimes, 0.99),
                }
            )
        return out


@dataclass(slots=True)
class _TypeStats:
    counts: dict[str, int] = field(default_factory=dict)
    runtimes: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    last_seen: float = 0.0


class TaskTypes:
    """Per task name: events by type and the last 500 runtimes (at most ``limit`` names)."""

    def __init__(self, *, limit: int = 1000, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self._stats: dict[str, _TypeStats] = {}
        self._lock = threading.Lock()

    def record(self, name: str, event_type: str, runtime: float | None = None) -> None:
        """Count one event of task ``name``."""
        counter = _COUNTED.get(event_type)
        if counter is None:
            return
        with self._lock:
            stats = self._stats.get(name)
            if stats is None:
                if len(self._stats) >= self.limit:
                    oldest = min(self._stats, key=lambda n: self._stats[n].last_seen)
                    del self._stats[oldest]
                stats = self._stats[name] = _TypeStats()
            stats.counts[counter] = stats.counts.get(counter, 0) + 1
            stats.last_seen = self.clock()
            if counter == "succeeded" and runtime is not None and runtime >= 0:
                stats.runtimes.append(runtime)

    def names(self) -> list[str]:
        """Every task name seen, sorted."""
        with self._lock:
            return sorted(self._stats)

    def rows(self) -> list[dict[str, Any]]:
        """One row per task name, the most events first."""
        with self._lock:
            items = [(n, dict(s.counts), sorted(s.runtimes)) for n, s in self._stats.items()]
        items.sort(key=lambda item: (-sum(item[1].values()), item[0]))
        return [
            {
                "name": name,
                **{key: counts.get(key, 0) for key in _COUNTED.values()},
                "p50": percentile(runtimes, 0.50),
                "p95": percentile(runtimes, 0.95),
                "max": runtimes[-1] if runtimes else None,
            }
            for name, counts, runtimes in items
        ]
