"""The broker conformance suite (see :mod:`celeriac.testing.conformance`)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable

import pytest

from celeriac.brokers.base import DEAD_LETTER_QUEUE, Broker, Outgoing
from celeriac.protocol import Message
from celeriac.testing._broker_async_suite import AsyncFaceChecks
from celeriac.testing._broker_support import (
    PATIENCE,
    BrokerFactory,
    later,
    message,
    numbers,
    take_all,
    take_marked,
)

__all__ = ["BrokerConformance", "BrokerFactory"]


class BrokerConformance(AsyncFaceChecks):
    """Behaviour every :class:`~celeriac.brokers.base.Broker` must have.

    Subclasses provide the ``broker_factory`` fixture (a :class:`BrokerFactory`).
    """

    # -- publish and get -------------------------------------------------------------

    def test_round_trip_keeps_body_headers_and_properties(self, broker: Broker, queue: str) -> None:
        headers = {
            "task": "tasks.add",
            "nested": {"list": [1, 2.5, None, True], "dict": {"deep": {"er": "x"}}},
            "unicode": "héllo ☃ 日本語 🚀",
            "when": dt.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=dt.timezone.utc),
        }
        properties = {"correlation_id": "abc", "reply_to": "replies", "priority": 3}
        sent = Message(bytes(range(256)) * 4, headers, properties, "application/x-bin", "binary")
        broker.publish(sent, exchange="tasks", routing_key=queue)
        delivery = broker.get([queue], timeout=PATIENCE)
        assert delivery is not None
        assert delivery.message == sent
        assert delivery.queue == queue
        info = {"exchange": "tasks", "routing_key": queue, "priority": 3, "redelivered": False}
        assert delivery.delivery_info == info

    def test_fifo_within_a_priority(self, broker: Broker, queue: str) -> None:
        for n in range(10):
            broker.publish(message(n, priority=4), routing_key=queue)
        assert numbers(take_all(broker, [queue])) == list(range(10))

    def test_higher_priority_first(self, broker: Broker, queue: str) -> None:
        priorities = [0, 5, 9, None, 5, 255, 0, 9]
        for n, priority in enumerate(priorities):
            broker.publish(message(n, priority=priority), routing_key=queue)
        expected = sorted(range(len(priorities)), key=lambda n: (-(priorities[n] or 0), n))
        assert numbers(take_all(broker, [queue])) == expected

    def test_best_message_across_queues(self, broker: Broker, queue: str) -> None:
        other = queue + ".other"
        broker.publish(message(0), routing_key=queue)
        broker.publish(message(1), routing_key=other)
        broker.publish(message(2, priority=7), routing_key=other)
        assert numbers(take_all(broker, [other, queue])) == [2, 0, 1]

    def test_publish_many_sends_each_message_in_order(self, broker: Broker, queue: str) -> None:
        other = queue + ".b"
        items = [
            Outgoing(message(n), routing_key=other if 300 <= n < 550 else queue) for n in range(600)
        ]
        items.append(Outgoing(message(600), routing_key=queue, eta=time.time() + 3600))
        items.append(Outgoing(message(601), routing_key=queue, exchange="tasks"))
        broker.publish_many(items)
        broker.publish_many([])
        assert broker.size(other) == 250
        taken = take_all(broker, [queue])
        assert numbers(taken) == [*range(300), *range(550, 600), 601]
        assert (taken[0].exchange, taken[-1].exchange) == ("", "tasks")
        assert numbers(take_all(broker, [other])) == list(range(300, 550))

    def test_get_timeout_returns_none_and_not_early(self, broker: Broker, queue: str) -> None:
        assert broker.get([queue], timeout=0) is None
        started = time.monotonic()
        assert broker.get([queue, queue + ".b"], timeout=0.3) is None
        assert time.monotonic() - started >= 0.3

    def test_get_wakes_when_another_thread_publishes(self, broker: Broker, queue: str) -> None:
        timer = later(0.1, lambda: broker.publish(message(1), routing_key=queue))
        delivery = broker.get([queue], timeout=PATIENCE)
        timer.join()
        assert delivery is not None
        assert delivery.message.headers["n"] == 1

    def test_eta_holds_message_until_due(self, broker: Broker, queue: str) -> None:
        eta = time.time() + 0.3
        broker.publish(message(1), routing_key=queue, eta=eta)
        assert broker.get([queue], timeout=0) is None
        assert broker.peek(queue) == []
        assert broker.size(queue) == 1
        delivery = broker.get([queue], timeout=PATIENCE)
        assert delivery is not None
        assert time.time() >= eta

    def test_eta_in_the_past_is_delivered_now(self, broker: Broker, queue: str) -> None:
        broker.publish(message(1), routing_key=queue, eta=time.time() - 60)
        assert broker.get([queue], timeout=0) is not None

    # -- ack, requeue, leases --------------------------------------------------------

    def test_ack_removes(self, broker: Broker, queue: str) -> None:
        broker.publish(message(1), routing_key=queue)
        delivery = broker.get([queue], timeout=0)
        assert delivery is not None
        broker.ack(delivery)
        assert broker.size(queue) == 0
        assert broker.get([queue], timeout=0) is None

    def test_requeue_redelivers(self, broker: Broker, queue: str) -> None:
        broker.publish(message(1), routing_key=queue)
        first = broker.get([queue], timeout=0)
        assert first is not None
        broker.requeue(first)
        again = broker.get([queue], timeout=0)
        assert again is not None
        assert again.redelivered
        assert again.message == first.message

    def test_expired_lease_redelivers(self, make_broker: Callable[..., Broker], queue: str) -> None:
        broker = make_broker(visibility_timeout=self.short_visibility_timeout)
        broker.publish(message(1), routing_key=queue)
        first = broker.get([queue], timeout=0)
        assert first is not None
        assert not first.redelivered
        again = broker.get([queue], timeout=PATIENCE)
        assert again is not None
        assert again.redelivered
        assert again.message == first.message

    def test_ack_after_lost_lease_is_ignored(
        self,
        make_broker: Callable[..., Broker],
        queue: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        broker = make_broker(visibility_timeout=self.short_visibility_timeout)
        broker.publish(message(1), routing_key=queue)
        stale = broker.get([queue], timeout=0)
        assert stale is not None
        current = broker.get([queue], timeout=PATIENCE)  # once the lease ran out
        assert current is not None
        with caplog.at_level(logging.WARNING):
            broker.ack(stale)
            broker.requeue(stale)
        assert [r for r in caplog.records if r.levelno == logging.WARNING]
        # Neither touched the current lease: it runs out in turn and the message returns.
        third = broker.get([queue], timeout=PATIENCE)
        assert third is not None
        broker.ack(third)
        assert broker.size(queue) == 0

    def test_renew_keeps_message_leased(
        self, make_broker: Callable[..., Broker], queue: str
    ) -> None:
        lease = self.short_visibility_timeout
        broker = make_broker(visibility_timeout=lease)
        broker.publish(message(1), routing_key=queue)
        held = broker.get([queue], timeout=0)
        assert held is not None
        until = time.monotonic() + 3 * lease
        while time.monotonic() < until:
            broker.renew([held])
            assert broker.get([queue], timeout=lease / 5) is None
        broker.ack(held)
        assert broker.get([queue], timeout=0) is None

    def test_consumers_never_share_a_message(self, broker: Broker, queue: str) -> None:
        count, consumers = 200, 4
        for n in range(count):
            broker.publish(message(n), routing_key=queue)
        taken: list[list[int]] = [[] for _ in range(consumers)]
        errors: list[BaseException] = []
        start = threading.Barrier(consumers)

        def consume(mine: list[int]) -> None:
            try:
                start.wait()
                while (delivery := broker.get([queue], timeout=0.2)) is not None:
                    mine.append(delivery.message.headers["n"])
                    broker.ack(delivery)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=consume, args=(t,)) for t in taken]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(n for mine in taken for n in mine) == list(range(count))

    # -- inspection ------------------------------------------------------------------

    def test_purge_deletes_unleased_and_counts(self, broker: Broker, queue: str) -> None:
        for n in range(5):
            broker.publish(message(n), routing_key=queue)
        broker.publish(message(5), routing_key=queue, eta=time.time() + 3600)
        held = broker.get([queue], timeout=0)
        assert held is not None
        assert broker.purge(queue) == 5
        assert broker.purge(queue) == 0
        broker.requeue(held)
        assert numbers(take_all(broker, [queue])) == [0]

    def test_size_counts_unleased_including_eta(self, broker: Broker, queue: str) -> None:
        assert broker.size(queue) == 0
        for n in range(3):
            broker.publish(message(n), routing_key=queue)
        broker.publish(message(3), routing_key=queue, eta=time.time() + 3600)
        assert broker.size(queue) == 4
        assert broker.get([queue], timeout=0) is not None
        assert broker.size(queue) == 3

    def test_peek_does_not_lease(self, broker: Broker, queue: str) -> None:
        for n in range(3):
            broker.publish(message(n), routing_key=queue)
        assert [m.headers["n"] for m in broker.peek(queue)] == [0, 1, 2]
        assert [m.headers["n"] for m in broker.peek(queue, limit=2)] == [0, 1]
        assert broker.size(queue) == 3
        first = broker.get([queue], timeout=0)
        assert first is not None
        assert not first.redelivered
        assert [m.headers["n"] for m in broker.peek(queue)] == [1, 2]

    def test_dead_letter_keeps_original(self, broker: Broker, queue: str) -> None:
        marker = uuid.uuid4().hex
        sent = Message(b"\x00\xffraw", {"n": 1, "marker": marker}, {"priority": 2}, "x/y", "binary")
        broker.publish(sent, routing_key=queue)
        delivery = broker.get([queue], timeout=0)
        assert delivery is not None
        broker.dead_letter(delivery, "cannot decode")
        assert broker.size(queue) == 0
        dead = take_marked(broker, DEAD_LETTER_QUEUE, marker)
        broker.ack(dead)
        assert dead.message.body == sent.body
        assert dead.message.properties == sent.properties
        assert (dead.message.content_type, dead.message.content_encoding) == ("x/y", "binary")
        assert dead.message.headers == {
            **sent.headers,
            "x-dead-letter-reason": "cannot decode",
            "x-dead-letter-queue": queue,
        }

    def test_open_and_close_are_idempotent(self, broker_factory: BrokerFactory, queue: str) -> None:
        broker = broker_factory()
        broker.open()
        broker.open()
        broker.publish(message(1), routing_key=queue)
        broker.close()
        broker.close()
        broker.open()
        assert broker.size(queue) == 1
        broker.close()
