"""Beat tests: an app on a fresh in-memory broker, and a fake clock (nothing sleeps)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.beat import FakeClock

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("beatapp", broker=f"memory://beat-{uuid.uuid4().hex}", set_as_current=False)

    @app.task(name="beatapp.tick")
    def tick(n: int = 0, *, tag: str = "") -> int:
        return n

    yield app
    app.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def schedule_path(tmp_path: Path) -> str:
    return str(tmp_path / "celerybeat-schedule")


def sent(app: Celery, queue: str = "celery") -> list[dict[str, Any]]:
    """The task messages published to ``queue``: headers plus decoded args and kwargs."""
    calls = []
    for message in app.broker.peek(queue, limit=10_000):
        args, kwargs, _ = json.loads(message.body)
        calls.append({**message.headers, "args": args, "kwargs": kwargs})
    return calls
