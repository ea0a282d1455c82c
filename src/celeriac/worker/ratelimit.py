"""Per-task rate limits (``rate_limit='10/s'``): a token bucket per task name, per worker.

The consumer asks :meth:`RateLimits.admit` before it hands a task to the pool. A task
over its limit is *held* here, in arrival order per task name, and the consumer moves
on to other tasks; :meth:`RateLimits.due` gives held tasks back once their turn has
come, and :meth:`RateLimits.next_due` says when to look again. Held tasks stay counted
in the consumer's prefetch, so a worker never holds more messages than it may.

The bucket holds one token, as Celery's (``kombu.utils.limits.TokenBucket`` with
``capacity=1``): ``10/s`` starts a task at most every 0.1 s, never a burst. When a held
task starts later than its turn (the event loop was busy, no pool slot was free), the
next turn is counted from when it was due, not from when it started, for up to one
interval, so such delays do not add up and lower the rate below the limit.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["RateLimits", "parse_rate"]

Job = TypeVar("Job")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(value: str | float | None) -> float:
    """Tasks per second for ``'10/s'``, ``'100/m'``, ``'1000/h'`` or a number (per second).

    ``None``, ``''`` and ``0`` mean no limit (``0.0``).

    Raises:
        ValueError: not a rate.
    """
    if value is None or value == "":
        return 0.0
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"rate limit must not be negative: {value!r}")
        return float(value)
    count, _, unit = value.strip().partition("/")
    unit = unit.strip() or "s"
    if unit not in _UNITS:
        raise ValueError(f"unknown rate limit unit in {value!r} (use /s, /m or /h)")
    per = _UNITS[unit]
    amount = float(count)
    if amount < 0:
        raise ValueError(f"rate limit must not be negative: {value!r}")
    return amount / per


class _Bucket:
    """One token, refilled every ``1 / rate`` seconds."""

    __slots__ = ("interval", "next_at")

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = 0.0

    def take_now(self, now: float) -> bool:
        """Take the token if it is there (an arrival that found nothing waiting)."""
        if now < self.next_at:
            return False
        self.next_at = now + self.interval
        return True

    def take_turn(self, now: float) -> bool:
        """Take the token for a held task; its turn counts from when it was due."""
        if now < self.next_at:
            return False
        self.next_at = max(self.next_at, now - self.interval) + self.interval
        return True


class RateLimits(Generic[Job]):
    """Buckets and held jobs by task name.

    Args:
        rate_of: The current rate limit of a task name, in tasks per second (0: none).
            Read on first use of each name and again after :meth:`reset`.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self, rate_of: Callable[[str], float], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_of = rate_of
        self.clock = clock
        self._buckets: dict[str, _Bucket | None] = {}
        self._held: dict[str, collections.deque[Job]] = {}

    def _bucket(self, name: str) -> _Bucket | None:
        if name not in self._buckets:
            rate = self.rate_of(name)
            self._buckets[name] = _Bucket(rate) if rate > 0 else None
        return self._buckets[name]

    def admit(self, name: str, job: Job) -> bool:
        """Whether ``job`` (of task ``name``) may start now; if not, it is held."""
        bucket = self._bucket(name)
        if bucket is None:
            return True
        held = self._held.get(name)
        if not held and bucket.take_now(self.clock()):
            return True
        self._held.setdefault(name, collections.deque()).append(job)
        return False

    def due(self) -> list[Job]:
        """Held jobs whose turn has come (at most one per task name), oldest name first."""
        now = self.clock()
        ready: list[Job] = []
        for name, held in list(self._held.items()):
            bucket = self._bucket(name)
            if bucket is None:  # the limit was lifted: all of them may go
                ready.extend(held)
                held.clear()
            elif held and bucket.take_turn(now):
                ready.append(held.popleft())
            if not held:
                del self._held[name]
        return ready

    def next_due(self) -> float | None:
        """Seconds until a held job's turn comes (``None``: nothing is held)."""
        now = self.clock()
        waits = []
        for name in self._held:
            bucket = self._bucket(name)
            waits.append(0.0 if bucket is None else max(bucket.next_at - now, 0.0))
        return min(waits) if waits else None

    def reset(self, name: str) -> None:
        """Read the rate of ``name`` again (after ``control rate_limit``)."""
        self._buckets.pop(name, None)

    def remove(self, keep: Callable[[Job], bool]) -> list[Job]:
        """Take out (and return) the held jobs for which ``keep`` is false."""
        removed: list[Job] = []
        for name, held in list(self._held.items()):
            kept: collections.deque[Job] = collections.deque()
            for job in held:
                (kept if keep(job) else removed).append(job)
            if kept:
                self._held[name] = kept
            else:
                del self._held[name]
        return removed

    def clear(self) -> list[Job]:
        """Take out every held job (shutdown gives them back to the broker)."""
        return self.remove(lambda job: False)

    def __iter__(self) -> Iterator[Job]:
        return (job for held in self._held.values() for job in held)

    def __len__(self) -> int:
        # A copy first: the metrics server counts from its own thread.
        return sum(map(len, list(self._held.values())))
