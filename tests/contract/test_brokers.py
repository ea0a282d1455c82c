"""Every built-in broker passes the shared broker conformance suite."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from celeriac import Queue
from celeriac.brokers.base import Broker
from celeriac.brokers.memory import MemoryBroker
from celeriac.brokers.sqlite import SQLiteBroker
from celeriac.testing._broker_support import PATIENCE, message, numbers, take_all
from celeriac.testing.conformance import BrokerConformance, BrokerFactory


class TestSQLiteBroker(BrokerConformance):
    @pytest.fixture
    def broker_factory(self, tmp_path: Path) -> BrokerFactory:
        url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            options = {"visibility_timeout": visibility_timeout}
            return SQLiteBroker.from_url(url, transport_options=options)

        return make


class TestMemoryBroker(BrokerConformance):
    @pytest.fixture
    def broker_factory(self) -> Iterator[BrokerFactory]:
        name = f"contract-{uuid.uuid4().hex}"

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            options = {"visibility_timeout": visibility_timeout}
            return MemoryBroker.from_url(f"memory://{name}", transport_options=options)

        yield make
        MemoryBroker.reset(name)


@pytest.mark.redis
class TestRedisBroker(BrokerConformance):
    """The suite on Redis, where priorities follow kombu: 0..9, lower served first."""

    @pytest.fixture
    def broker_factory(self, redis_url: str) -> BrokerFactory:
        from celeriac.brokers.redis import RedisBroker

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            options = {"visibility_timeout": visibility_timeout}
            return RedisBroker.from_url(redis_url, transport_options=options)

        return make

    def test_higher_priority_first(self, broker: Broker, queue: str) -> None:
        # Redis buckets (kombu): 0-2 -> 0, 3-5 -> 3, 6-8 -> 6, 9+ -> 9; bucket 0 first.
        priorities = [0, 5, 9, None, 5, 255, 0, 9, 2, 7]
        for n, priority in enumerate(priorities):
            broker.publish(message(n, priority=priority), routing_key=queue)
        bucket = {None: 0, 0: 0, 2: 0, 5: 3, 7: 6, 9: 9, 255: 9}
        expected = sorted(range(len(priorities)), key=lambda n: (bucket[priorities[n]], n))
        assert numbers(take_all(broker, [queue])) == expected

    def test_best_message_across_queues(self, broker: Broker, queue: str) -> None:
        other = queue + ".other"
        broker.publish(message(0), routing_key=queue)
        broker.publish(message(1, priority=7), routing_key=other)
        broker.publish(message(2), routing_key=other)
        assert numbers(take_all(broker, [other, queue])) == [2, 0, 1]


@pytest.mark.amqp
class TestAmqpBroker(BrokerConformance):
    """The suite on RabbitMQ.

    Overridden where RabbitMQ's model differs on purpose (documented in
    ``celeriac.brokers.amqp``): a lease lasts until the delivering channel closes (no
    visibility timeout), messages waiting in the delay queues are not counted or
    purged with their target queue, ``peek`` leaves messages marked redelivered, and
    there is no priority order across queues.
    """

    @pytest.fixture
    def broker_factory(self, amqp_url: str, queue: str) -> Iterator[BrokerFactory]:
        from celeriac.brokers.amqp import AmqpBroker

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            return AmqpBroker.from_url(amqp_url, transport_options={"max_priority": 10})

        yield make
        cleanup = AmqpBroker.from_url(amqp_url, transport_options={})
        cleanup.open()
        for name in (queue, queue + ".other", queue + ".b"):
            cleanup.delete_queue(name)
        cleanup.close()

    def test_expired_lease_redelivers(self, make_broker: Callable[..., Broker], queue: str) -> None:
        first_broker = make_broker()
        first_broker.publish(message(1), routing_key=queue)
        first = first_broker.get([queue], timeout=PATIENCE)
        assert first is not None and not first.redelivered
        first_broker.close()  # the lease ends with the channel
        again = make_broker().get([queue], timeout=PATIENCE)
        assert again is not None
        assert again.redelivered
        assert again.message == first.message

    def test_ack_after_lost_lease_is_ignored(
        self,
        make_broker: Callable[..., Broker],
        queue: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        broker = make_broker()
        broker.publish(message(1), routing_key=queue)
        stale = broker.get([queue], timeout=PATIENCE)
        assert stale is not None
        broker.close()
        broker.open()  # a new connection: the old lease is gone
        current = broker.get([queue], timeout=PATIENCE)
        assert current is not None and current.redelivered
        with caplog.at_level(logging.WARNING):
            broker.ack(stale)
            broker.requeue(stale)
        assert [r for r in caplog.records if r.levelno == logging.WARNING]
        assert broker.get([queue], timeout=0) is None  # still leased by `current`
        broker.ack(current)
        assert broker.size(queue) == 0

    def test_areject_dead_letters_through_the_queues_exchange(
        self, make_broker: Callable[..., Broker], queue: str
    ) -> None:
        # As RabbitMQ does for Celery's reject(requeue=False): to the dead-letter exchange.
        dead_letters = queue + ".b"
        arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letters}
        broker = make_broker()
        broker.use_topology({queue: Queue(queue, queue_arguments=arguments)})
        broker.declare_queue(dead_letters)
        broker.publish(message(1), routing_key=queue)

        async def reject() -> None:
            batch = await broker.afetch([queue], limit=1, timeout=PATIENCE)
            await broker.areject(batch)

        asyncio.run(reject())
        dead = broker.get([dead_letters], timeout=PATIENCE)
        assert dead is not None and numbers([dead]) == [1]
        broker.ack(dead)
        assert broker.size(queue) == 0

    def test_best_message_across_queues(self, broker: Broker, queue: str) -> None:
        other = queue + ".other"
        broker.publish(message(0), routing_key=queue)
        broker.publish(message(1), routing_key=other)
        broker.publish(message(2, priority=7), routing_key=other)
        taken = numbers(take_all(broker, [other, queue]))
        assert sorted(taken) == [0, 1, 2]
        assert taken.index(2) < taken.index(1)  # priority order within a queue

    def test_eta_holds_message_until_due(self, broker: Broker, queue: str) -> None:
        eta = time.time() + 0.3
        broker.publish(message(1), routing_key=queue, eta=eta)
        assert broker.get([queue], timeout=0) is None
        assert broker.peek(queue) == []
        delivery = broker.get([queue], timeout=PATIENCE)
        assert delivery is not None
        assert time.time() >= eta
        assert delivery.delivery_info["exchange"] == ""
        assert delivery.delivery_info["routing_key"] == queue
        assert "x-death" not in delivery.message.headers

    def test_size_counts_unleased_including_eta(self, broker: Broker, queue: str) -> None:
        assert broker.size(queue) == 0
        for n in range(3):
            broker.publish(message(n), routing_key=queue)
        broker.publish(message(3), routing_key=queue, eta=time.time() + 3600)
        assert broker.size(queue) == 3  # the delayed one waits in the delay queues
        assert broker.get([queue], timeout=0) is not None
        assert broker.size(queue) == 2

    def test_purge_deletes_unleased_and_counts(self, broker: Broker, queue: str) -> None:
        for n in range(5):
            broker.publish(message(n), routing_key=queue)
        held = broker.get([queue], timeout=0)
        assert held is not None
        assert broker.purge(queue) == 4
        assert broker.purge(queue) == 0
        broker.requeue(held)
        assert numbers(take_all(broker, [queue])) == [0]

    def test_peek_does_not_lease(self, broker: Broker, queue: str) -> None:
        for n in range(3):
            broker.publish(message(n), routing_key=queue)
        assert [m.headers["n"] for m in broker.peek(queue)] == [0, 1, 2]
        assert [m.headers["n"] for m in broker.peek(queue, limit=2)] == [0, 1]
        assert broker.size(queue) == 3
        first = broker.get([queue], timeout=0)
        assert first is not None and first.message.headers["n"] == 0
        assert [m.headers["n"] for m in broker.peek(queue)] == [1, 2]
