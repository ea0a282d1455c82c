"""The Redis broker's idle wait: one BRPOP per polling interval on wake-up keys and lists.

A message pushed without a wake-up token (as Celery clients push) is popped by that
BRPOP and recorded unacked before the consumer sees it; a cancelled wait holds nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac.brokers import _redis_scripts as lua
from celeriac.brokers.base import Delivery
from celeriac.brokers.redis import RedisBroker
from celeriac.protocol import Message
from celeriac.testing._broker_support import PATIENCE, later, message

pytestmark = pytest.mark.redis

QUEUE = "idle"


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _broker(redis_url: str, polling_interval: float) -> RedisBroker:
    options = {"polling_interval": polling_interval}
    return RedisBroker.from_url(redis_url, transport_options=options)


def _celery_push(broker: RedisBroker, raw: Any, sent: Message, key: str = QUEUE) -> None:
    """LPUSH a kombu envelope with no wake-up token, as a Celery client does."""
    raw.lpush(key, broker.plan.envelope(sent, "", QUEUE))


def _wait_until_blocked(raw: Any) -> None:
    """Wait until a client of this database is blocked in BRPOP."""
    db = raw.connection_pool.connection_kwargs.get("db", 0)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if any(c["cmd"] == "brpop" and int(c["db"]) == db for c in raw.client_list()):
            return
        time.sleep(0.01)
    raise AssertionError("the fetch never blocked")


def _fetch_while(broker: RedisBroker, raw: Any, action: Any, limit: int = 8) -> list[Delivery]:
    """Start a fetch, run ``action`` once it blocks, return what the fetch got."""

    async def run() -> list[Delivery]:
        fetching = asyncio.ensure_future(broker.afetch([QUEUE], limit=limit, timeout=PATIENCE))
        await asyncio.to_thread(_wait_until_blocked, raw)
        action()
        return await fetching

    return asyncio.run(run())


def test_a_message_pushed_without_a_token_is_taken_and_leased(redis_url: str, raw: Any) -> None:
    # With a 30 s interval, only the blocked BRPOP can see the message within the fetch.
    broker = _broker(redis_url, 30.0)
    sent = message(1)
    (delivery,) = _fetch_while(broker, raw, lambda: _celery_push(broker, raw, sent))
    assert delivery.message == sent and delivery.queue == QUEUE
    assert raw.zscore("unacked_index", delivery.tag) is not None
    record = json.loads(raw.hget("unacked", delivery.tag))
    assert record[1:] == ["", QUEUE]
    assert record[0]["headers"] == sent.headers
    broker.ack(delivery)
    assert raw.hlen("unacked") == 0 and raw.llen(QUEUE) == 0
    broker.close()


def test_the_blocking_face_takes_a_message_pushed_without_a_token(redis_url: str, raw: Any) -> None:
    broker = _broker(redis_url, 30.0)
    sent = message(2)
    timer = later(0.2, lambda: _celery_push(broker, raw, sent))
    delivery = broker.get([QUEUE], timeout=PATIENCE)
    timer.join()
    assert delivery is not None and delivery.message == sent
    assert raw.zscore("unacked_index", delivery.tag) is not None
    broker.ack(delivery)
    assert raw.hlen("unacked") == 0
    broker.close()


def test_the_popped_message_comes_first_and_the_take_fills_the_batch(
    redis_url: str, raw: Any
) -> None:
    broker = _broker(redis_url, 30.0)

    def push() -> None:
        with raw.pipeline() as pipe:  # one step: the BRPOP sees all three at once
            for n in range(3):
                pipe.lpush(
                    QUEUE + broker.plan.keys.sep + "3", broker.plan.envelope(message(n), "", QUEUE)
                )
            pipe.execute()

    batch = _fetch_while(broker, raw, push)
    assert [d.message.headers["n"] for d in batch] == [0, 1, 2]
    assert {d.extra["bucket"] for d in batch} == {3}
    assert raw.hlen("unacked") == 3
    broker.close()


def test_a_celeriac_publish_wakes_the_fetch(redis_url: str, raw: Any) -> None:
    broker = _broker(redis_url, 30.0)
    publisher = _broker(redis_url, 30.0)
    batch = _fetch_while(broker, raw, lambda: publisher.publish(message(7), routing_key=QUEUE))
    assert [d.message.headers["n"] for d in batch] == [7]
    assert raw.hlen("unacked") == 1
    broker.close()
    publisher.close()


def test_an_idle_fetch_sends_only_a_brpop_per_interval(redis_url: str, raw: Any) -> None:
    broker = _broker(redis_url, 0.3)
    db = raw.connection_pool.connection_kwargs.get("db", 0)
    commands: list[str] = []
    monitoring = threading.Event()

    def monitor() -> None:
        with raw.monitor() as feed:
            monitoring.set()
            for event in feed.listen():
                if int(event["db"]) != db:
                    continue
                if event["command"] == "PING done":
                    return
                commands.append(event["command"].split()[0].upper())

    watcher = threading.Thread(target=monitor)
    watcher.start()
    assert monitoring.wait(PATIENCE)

    async def idle() -> None:
        for _ in range(4):
            assert await broker.afetch([QUEUE], limit=4, timeout=0.3) == []

    asyncio.run(idle())
    raw.execute_command("PING", "done")
    watcher.join(PATIENCE)
    # The first fetch takes (EVALSHA) once; then every fetch is one BRPOP, no take.
    assert commands.count("EVALSHA") == 1
    assert commands.count("BRPOP") == 4
    broker.close()


def test_a_cancelled_fetch_gives_back_what_its_brpop_popped(redis_url: str, raw: Any) -> None:
    broker = _broker(redis_url, 30.0)
    sent = message(3)

    async def run() -> None:
        fetching = asyncio.ensure_future(broker.afetch([QUEUE], limit=1, timeout=PATIENCE))
        await asyncio.to_thread(_wait_until_blocked, raw)
        # Redis serves the blocked BRPOP before it answers this LPUSH; the loop has not
        # read that reply yet when the fetch is cancelled.
        _celery_push(broker, raw, sent)
        fetching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetching

    asyncio.run(run())
    assert raw.llen(QUEUE) == 1 and raw.hlen("unacked") == 0
    assert not raw.keys("_celeriac.unblock.*")
    delivery = broker.get([QUEUE], timeout=0)
    assert delivery is not None and delivery.message == sent
    broker.close()


def test_a_cancelled_idle_fetch_ends_and_holds_nothing(redis_url: str, raw: Any) -> None:
    broker = _broker(redis_url, 30.0)

    async def run() -> None:
        fetching = asyncio.ensure_future(broker.afetch([QUEUE], limit=1, timeout=PATIENCE))
        await asyncio.to_thread(_wait_until_blocked, raw)
        fetching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetching

    asyncio.run(run())
    assert not raw.keys("_celeriac.unblock.*")
    assert raw.hlen("unacked") == 0
    broker.close()


def test_a_resting_consumer_moves_an_eta_held_for_another_queue(redis_url: str, raw: Any) -> None:
    # A consumer of QUEUE only, resting between fetches, is woken by the eta publish for
    # "other" and moves that message to its list when due (fewer fetches than the
    # consumer's periodic take would need).
    broker = _broker(redis_url, 0.3)
    publisher = _broker(redis_url, 0.3)

    async def run() -> int:
        assert await broker.afetch([QUEUE], limit=1, timeout=0.3) == []
        publisher.publish(message(9), routing_key="other", eta=time.time() + 0.5)
        for fetches in range(1, 20):
            assert await broker.afetch([QUEUE], limit=1, timeout=0.3) == []
            if raw.llen("other"):
                return fetches
        return 0

    assert asyncio.run(run()) > 0
    broker.close()
    publisher.close()


def test_a_retried_take_records_the_popped_message_once(redis_url: str, raw: Any) -> None:
    # redis-py runs a take again, same arguments, when its reply was lost: the message
    # the BRPOP popped belongs to the first run's batch and is not recorded again.
    broker = _broker(redis_url, 30.0)
    payload = broker.plan.envelope(message(4), "", QUEUE).encode()
    take = raw.register_script(lua.TAKE)
    keys, args, layout = broker.plan.take([QUEUE], 1, (QUEUE, payload))
    first, _, _ = broker.plan.taken(take(keys=keys, args=args), layout)
    assert [d.message.headers["n"] for d in first] == [4]
    retried, _, _ = broker.plan.taken(take(keys=keys, args=args), layout)
    assert retried == []
    assert raw.hlen("unacked") == 1
    broker.close()
