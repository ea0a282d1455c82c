"""The benchmark's tasks, written once for both frameworks.

Imports neither celery nor celeriac: ``benchtasks`` (celeriac) and ``benchtasks_celery``
(Celery) each make an app from the environment and register these same functions, so
the two workers run identical task code and load nothing of the other framework.
"""

from __future__ import annotations

import os
import time
from typing import Any

MARKS_KEY = "bench:marks"  # bench/_redis.py reads it

_marks_client: Any = None


def noop() -> None:
    """Do nothing: what is measured is the framework's own cost."""


def add(x: int, y: int) -> int:
    return x + y


def xsum(numbers: list[int]) -> int:
    return sum(numbers)


def mark(label: str) -> None:
    """Record when this task ran, for the bench process to read (``BLPOP``).

    The drain's first and last messages are marks: their times bound "first to last
    completion" without a result backend, and the bench waits on them without polling.
    """
    global _marks_client
    if _marks_client is None:
        import redis

        _marks_client = redis.Redis.from_url(os.environ["BENCH_MARKS_URL"])
    _marks_client.rpush(MARKS_KEY, f"{label} {time.time():.6f}")


def app_settings() -> dict[str, Any]:
    """Broker and backend from the environment (the bench sets them per measurement)."""
    backend = os.environ.get("BENCH_RESULT_BACKEND") or None
    return {"broker_url": os.environ["BENCH_BROKER_URL"], "result_backend": backend}


def register(app: Any) -> dict[str, Any]:
    """Register the tasks on ``app`` under the same names for both frameworks."""
    return {
        fn.__name__: app.task(name=f"bench.{fn.__name__}")(fn) for fn in (noop, add, xsum, mark)
    }
