"""The app the sending tests share: memory broker, one task ``proj.add``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker


@pytest.fixture
def add_app() -> Iterator[Celery]:
    """An app on its own memory broker with ``proj.add(x, y)``."""
    name = f"send-{uuid.uuid4().hex}"
    app = Celery("proj", broker=f"memory://{name}", set_as_current=False)

    @app.task(shared=False, name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    yield app
    MemoryBroker.reset(name)
    app.close()
