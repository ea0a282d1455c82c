"""The consumer's takes and acks go out in batches; acks survive a lost connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, cast

import pytest

from celeriac import Celery
from celeriac.brokers.base import Delivery
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import OperationalError
from celeriac.protocol import build_task_message
from celeriac.testing.worker import start_worker
from celeriac.worker import settle
from celeriac.worker.settle import Acks


class RecordingBroker(MemoryBroker):
    """A memory broker that records each ack call (and fails the first ``failures``)."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(name=f"acks-{uuid.uuid4().hex}")
        self.failures = failures
        self.calls: list[int] = []
        self.acked = asyncio.Event()

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        if self.failures:
            self.failures -= 1
            raise OperationalError("connection lost")
        self.calls.append(len(deliveries))
        await super().aack(deliveries)
        self.acked.set()


class Holder:
    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker


async def leased(broker: MemoryBroker, n: int) -> list[Delivery]:
    for i in range(n):
        message = build_task_message(name="t.noop", task_id=f"id-{i}", args=(), kwargs={})
        broker.publish(message, routing_key="celery")
    return await broker.afetch(["celery"], limit=n, timeout=1)


def acks_for(broker: MemoryBroker, batch: int) -> Acks:
    return Acks(cast(Any, Holder(broker)), batch=lambda: batch)


def test_a_full_batch_goes_without_waiting_for_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settle, "ACK_DELAY", 3600.0)

    async def scenario() -> None:
        broker = RecordingBroker()
        deliveries = await leased(broker, 10)
        acks = acks_for(broker, 4)
        for delivery in deliveries[:4]:
            acks.add(delivery)
        async with asyncio.timeout(10):
            await broker.acked.wait()
        assert broker.calls == [4]
        for delivery in deliveries[4:]:
            acks.add(delivery)
        await acks.flush()
        assert broker.calls == [4, 6]
        assert broker.size("celery") == 0 and len(acks) == 0
        assert not await broker.afetch(["celery"], limit=10, timeout=0)

    asyncio.run(scenario())


def test_a_small_batch_goes_after_the_delay() -> None:
    async def scenario() -> None:
        broker = RecordingBroker()
        acks = acks_for(broker, 100)
        for delivery in await leased(broker, 3):
            acks.add(delivery)
        assert broker.calls == []
        async with asyncio.timeout(10):
            await broker.acked.wait()
        assert broker.calls == [3]

    asyncio.run(scenario())


def test_acks_that_meet_a_lost_connection_are_sent_again() -> None:
    async def scenario() -> None:
        broker = RecordingBroker(failures=1)
        acks = acks_for(broker, 2)
        for delivery in await leased(broker, 2):
            acks.add(delivery)
        async with asyncio.timeout(10):
            await broker.acked.wait()
        assert broker.calls == [2]
        assert len(acks) == 0

    asyncio.run(scenario())


class CountingBroker(MemoryBroker):
    """A memory broker that records the limit of every take."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.limits: list[int] = []

    async def afetch(self, queues: Sequence[str], *, limit: int, timeout: float) -> list[Delivery]:
        self.limits.append(limit)
        return await super().afetch(queues, limit=limit, timeout=timeout)


def test_the_consumer_takes_half_a_prefetch_window_or_more_at_a_time() -> None:
    name = f"takes-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    broker = CountingBroker(name)
    app._broker = broker  # the worker uses this instance, which counts its takes

    @app.task
    def noop() -> None:
        return None

    try:
        results = [noop.delay() for _ in range(60)]
        with start_worker(app, concurrency=2, prefetch_multiplier=4):
            for result in results:
                result.get(timeout=10)
        # The window is 8: a take waits until 4 slots are free (or the pool would idle).
        assert broker.limits and min(broker.limits) >= 4
        assert broker.size("celery") == 0
    finally:
        MemoryBroker.reset(name)
        app.close()
