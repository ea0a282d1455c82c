"""``--autoscale MAX,MIN``: grow the pool under load, shrink it when idle (Celery's rules).

The load is the number of tasks the worker holds (reserved, waiting for a rate limit,
running). When it exceeds the pool's size, the pool grows at once, up to ``MAX``. When
it falls below, the pool shrinks towards the load, down to ``MIN``, but only once no
task has arrived and the pool has not grown for ``keepalive`` seconds (Celery's
``AUTOSCALE_KEEPALIVE``, 30 s by default), so a short lull does not cost processes that
are needed again a moment later. The autoscaler is a hook (it looks at every task the
worker receives) plus a check every second on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac.worker.hooks import Hook

if TYPE_CHECKING:
    from celeriac.pools.base import Pool
    from celeriac.protocol import TaskMessage

__all__ = ["Autoscaler", "parse_autoscale"]

logger = logging.getLogger(__name__)

#: Seconds of quiet before the pool shrinks (Celery's default).
DEFAULT_KEEPALIVE = 30.0


def parse_autoscale(value: str) -> tuple[int, int]:
    """``"10,3"`` (or ``"3,10"``) -> ``(10, 3)``; ``"10"`` -> ``(10, 0)``, as Celery reads it.

    Raises:
        ValueError: not one or two integers.
    """
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"expected MAX,MIN or MAX, not {value!r}")
    numbers = sorted((int(part) for part in parts), reverse=True)
    if numbers[-1] < 0:
        raise ValueError(f"process counts cannot be negative: {value!r}")
    high, low = (numbers[0], numbers[1]) if len(numbers) == 2 else (numbers[0], 0)
    if high < 1:
        raise ValueError(f"the maximum must be at least 1: {value!r}")
    return high, low


class Autoscaler(Hook):
    """Resizes ``pool`` between ``min_concurrency`` and ``max_concurrency``.

    Args:
        pool: The running pool (it must support :meth:`~celeriac.pools.base.Pool.resize`).
        load: How many tasks the worker holds now.
        max_concurrency: The most processes (or threads).
        min_concurrency: The fewest.
        keepalive: Seconds without new tasks or growth before shrinking.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        pool: Pool,
        load: Callable[[], int],
        *,
        max_concurrency: int,
        min_concurrency: int = 0,
        keepalive: float = DEFAULT_KEEPALIVE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if keepalive <= 0:
            raise ValueError("autoscale keepalive must be positive")
        self.pool = pool
        self.load = load
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.keepalive = keepalive
        self.clock = clock
        self._last_active: float | None = None

    @property
    def processes(self) -> int:
        """The pool's current size."""
        return self.pool.limit

    def on_received(self, message: TaskMessage) -> None:
        """A task arrived: the pool is busy now; grow at once if it needs to."""
        self._last_active = self.clock()
        self.maybe_scale()

    def maybe_scale(self) -> bool:
        """Grow or shrink if the load says so; whether the size changed."""
        processes, load = self.processes, self.load()
        wanted = min(load, self.max_concurrency)
        if wanted > processes:
            logger.info("Scaling up %s processes.", wanted - processes)
            self._last_active = self.clock()
            self.pool.resize(wanted)
            return True
        wanted = max(load, self.min_concurrency)
        if wanted < processes and self._is_quiet():
            logger.info("Scaling down %s processes.", processes - wanted)
            self.pool.resize(wanted)
            return True
        return False

    def _is_quiet(self) -> bool:
        return self._last_active is None or self.clock() - self._last_active > self.keepalive

    def update(self, max: int | None = None, min: int | None = None) -> tuple[int, int]:
        """Change the range (``control autoscale``); return ``(max, min)`` now in force."""
        if max is not None:
            self.max_concurrency = max
            if self.processes > max:
                self.pool.resize(max)
        if min is not None:
            self.min_concurrency = min
            if self.processes < min:
                self.pool.resize(min)
        return self.max_concurrency, self.min_concurrency

    def info(self) -> dict[str, Any]:
        """What ``inspect stats`` shows under ``autoscaler``."""
        return {
            "max": self.max_concurrency,
            "min": self.min_concurrency,
            "current": self.processes,
            "qty": self.load(),
        }

    async def run(self, interval: float = 1.0) -> None:
        """Check every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.maybe_scale()
            except Exception:  # the worker goes on at its current size
                logger.exception("Autoscaler: cannot resize the pool")
