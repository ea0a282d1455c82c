"""Awaiting results from async code: the loop stays free while a task runs."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery, group
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import TimeoutError as CeleriacTimeoutError
from celeriac.testing.worker import start_worker


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"aio-{uuid.uuid4().hex}"
    app = Celery("aio", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


def test_await_a_result_and_a_group(app: Celery) -> None:
    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    async def main() -> tuple[int, int, list[int]]:
        result = await add.s(1, 2).adelay()
        first = await result
        second = await (await add.s(5).aapply_async((5,))).aget(timeout=5)
        many = await (await group(add.s(i, i) for i in range(3)).aapply_async()).aget()
        return first, second, many

    with start_worker(app, concurrency=2):
        assert asyncio.run(main()) == (3, 10, [0, 2, 4])


def test_the_loop_keeps_running_while_waiting(app: Celery) -> None:
    may_finish = threading.Event()

    @app.task(shared=False)
    def slow() -> str:
        # Finishes only once the caller's loop has ticked: proof it was never blocked.
        may_finish.wait(10)
        return "done"

    async def main() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
                if ticks == 5:
                    may_finish.set()

        beat = asyncio.ensure_future(ticker())
        value = await (await slow.s().adelay()).aget(timeout=10)
        beat.cancel()
        return value, ticks

    with start_worker(app):
        value, ticks = asyncio.run(main())
    assert value == "done" and ticks >= 5


def test_aget_times_out_and_propagates(app: Celery) -> None:
    @app.task(shared=False)
    def fail() -> None:
        raise KeyError("nope")

    async def pending() -> None:
        await app.AsyncResult("never-sent").aget(timeout=0.1)

    with pytest.raises(CeleriacTimeoutError):
        asyncio.run(pending())

    async def failing() -> object:
        result = await fail.s().adelay()
        with pytest.raises(KeyError):
            await result
        return await result.aget(propagate=False)

    with start_worker(app):
        assert isinstance(asyncio.run(failing()), KeyError)
