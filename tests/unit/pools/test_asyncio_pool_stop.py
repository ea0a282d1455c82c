"""Stopping the asyncio pool leaves no coroutine pending when the loop closes."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker
from celeriac.testing.worker import start_worker
from tests.e2e.wait import wait_until


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"async-stop-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


@pytest.mark.parametrize("stubborn", [False, True])
def test_a_cold_stop_awaits_the_coroutines_it_cancelled(
    app: Celery, caplog: pytest.LogCaptureFixture, stubborn: bool
) -> None:
    started = threading.Event()
    unwound: list[str] = []

    @app.task
    async def sleepy() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if stubborn:  # takes one more turn of the loop to give up
                await asyncio.sleep(0.01)
            unwound.append("unwound")
            raise

    caplog.set_level(logging.ERROR, logger="asyncio")
    with start_worker(app, pool="asyncio", concurrency=2) as worker:
        sleepy.delay()
        assert started.wait(5)
        consumer = worker.consumer
        assert consumer is not None and consumer._loop is not None
        consumer._loop.call_soon_threadsafe(worker.request_stop, True)
        assert wait_until(lambda: worker.pool is not None and consumer.is_stopping())
    gc.collect()  # a task dropped while pending says so when it is collected
    assert "Task was destroyed but it is pending" not in caplog.text
    assert unwound == ["unwound"]
