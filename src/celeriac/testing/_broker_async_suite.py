"""The asyncio-face part of the broker conformance suite."""

from __future__ import annotations

import asyncio
import time
import uuid

from celeriac.brokers.base import DEAD_LETTER_QUEUE, Broker, Delivery
from celeriac.testing._broker_support import (
    PATIENCE,
    BrokerFixtures,
    later,
    message,
    numbers,
    take_marked,
)

__all__ = ["AsyncFaceChecks"]


class AsyncFaceChecks(BrokerFixtures):
    """What the asyncio face (``afetch``, ``aack``, ``apublish`` ...) must do."""

    def test_afetch_respects_limit(self, broker: Broker, queue: str) -> None:
        for n in range(5):
            broker.publish(message(n), routing_key=queue)

        async def fetch() -> tuple[list[Delivery], list[Delivery], list[Delivery]]:
            first = await broker.afetch([queue], limit=3, timeout=PATIENCE)
            second = await broker.afetch([queue], limit=10, timeout=PATIENCE)
            third = await broker.afetch([queue], limit=10, timeout=0)
            return first, second, third

        first, second, third = asyncio.run(fetch())
        assert (numbers(first), numbers(second), third) == ([0, 1, 2], [3, 4], [])

    def test_afetch_wakes_when_another_thread_publishes(self, broker: Broker, queue: str) -> None:
        async def fetch() -> list[Delivery]:
            timer = later(0.1, lambda: broker.publish(message(1), routing_key=queue))
            try:
                return await broker.afetch([queue], limit=5, timeout=PATIENCE)
            finally:
                timer.join()

        assert numbers(asyncio.run(fetch())) == [1]

    def test_afetch_wakes_on_apublish_from_the_same_loop(self, broker: Broker, queue: str) -> None:
        async def fetch() -> list[Delivery]:
            await broker.aopen()
            waiting = asyncio.ensure_future(broker.afetch([queue], limit=5, timeout=PATIENCE))
            for _ in range(3):
                await asyncio.sleep(0)
            await broker.apublish(message(1), routing_key=queue)
            return await waiting

        assert numbers(asyncio.run(fetch())) == [1]

    def test_afetch_times_out_empty(self, broker: Broker, queue: str) -> None:
        async def fetch() -> tuple[list[Delivery], float]:
            started = time.monotonic()
            batch = await broker.afetch([queue], limit=5, timeout=0.3)
            return batch, time.monotonic() - started

        batch, waited = asyncio.run(fetch())
        assert batch == []
        assert waited >= 0.3

    def test_aack_arequeue_arenew(self, broker: Broker, queue: str) -> None:
        async def run() -> list[Delivery]:
            await broker.aopen()
            for n in range(3):
                await broker.apublish(message(n), routing_key=queue)
            batch = await broker.afetch([queue], limit=3, timeout=PATIENCE)
            await broker.arenew(batch)
            await broker.arequeue(batch[:1])
            await broker.aack(batch[1:])
            again = await broker.afetch([queue], limit=3, timeout=PATIENCE)
            await broker.aack(again)
            await broker.aclose()
            await broker.aclose()
            return again

        again = asyncio.run(run())
        assert numbers(again) == [0]
        assert again[0].redelivered
        assert broker.size(queue) == 0

    def test_adead_letter(self, broker: Broker, queue: str) -> None:
        marker = uuid.uuid4().hex
        broker.publish(message(1, marker=marker), routing_key=queue)

        async def run() -> None:
            (delivery,) = await broker.afetch([queue], limit=1, timeout=PATIENCE)
            await broker.adead_letter(delivery, "why")

        asyncio.run(run())
        dead = take_marked(broker, DEAD_LETTER_QUEUE, marker)
        broker.ack(dead)
        assert dead.message.headers["x-dead-letter-reason"] == "why"

    def test_areject_removes_the_message(self, broker: Broker, queue: str) -> None:
        async def run() -> list[Delivery]:
            await broker.aopen()
            await broker.apublish(message(1), routing_key=queue)
            batch = await broker.afetch([queue], limit=1, timeout=PATIENCE)
            await broker.areject(batch)
            again = await broker.afetch([queue], limit=1, timeout=0.2)
            await broker.aclose()
            return again

        assert asyncio.run(run()) == []  # not requeued
        assert broker.size(queue) == 0
