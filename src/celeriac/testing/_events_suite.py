"""The conformance suite for monitoring-event channels (``Broker.event_channel()``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from celeriac.brokers.base import Broker, EventChannel
from celeriac.testing._broker_suite import BrokerFactory

__all__ = ["EventChannelConformance"]


class EventChannelConformance:
    """Tests for the event channel of the broker made by ``broker_factory``."""

    @pytest.fixture
    def brokers(self, broker_factory: BrokerFactory) -> Iterator[tuple[Broker, Broker]]:
        sender, listener = broker_factory(), broker_factory()
        sender.open()
        listener.open()
        yield sender, listener
        sender.close()
        listener.close()

    @pytest.fixture
    def channels(self, brokers: tuple[Broker, Broker]) -> Iterator[tuple[EventChannel, ...]]:
        made = (brokers[0].event_channel(), brokers[1].event_channel(), brokers[1].event_channel())
        yield made
        for channel in made:
            channel.close()

    def test_listeners_get_what_is_published_after_they_start(
        self, channels: tuple[EventChannel, ...]
    ) -> None:
        sender, first, second = channels
        sender.publish("worker.online", {"type": "worker-online", "n": 0})
        assert first.receive(timeout=0) == [] and second.receive(timeout=0) == []
        sender.publish("worker.heartbeat", {"type": "worker-heartbeat", "n": 1})
        sender.publish(
            "task.multi", [{"type": "task-received", "n": 2}, {"type": "task-started", "n": 3}]
        )
        for listener in (first, second):
            got: list[object] = []
            while len(got) < 2:
                batch = listener.receive(timeout=5)
                assert batch, "no event arrived"
                got += batch
            assert got == [
                {"type": "worker-heartbeat", "n": 1},
                [{"type": "task-received", "n": 2}, {"type": "task-started", "n": 3}],
            ]

    def test_a_publish_wakes_a_waiting_listener(self, channels: tuple[EventChannel, ...]) -> None:
        sender, listener, _ = channels
        listener.receive(timeout=0)
        timer = threading.Timer(0.05, sender.publish, ("task.sent", {"type": "task-sent"}))
        timer.start()
        assert listener.receive(timeout=10) == [{"type": "task-sent"}]
        timer.join()

    def test_receive_times_out_empty(self, channels: tuple[EventChannel, ...]) -> None:
        _, listener, _ = channels
        listener.receive(timeout=0)
        assert listener.receive(timeout=0.05) == []

    def test_a_listener_gets_only_the_routing_keys_it_asks_for(
        self, channels: tuple[EventChannel, ...]
    ) -> None:
        sender, listener, _ = channels
        listener.receive(timeout=0, routing_key="worker.#")
        listener.receive(timeout=0)
        sender.publish("task.multi", [{"type": "task-started"}])
        sender.publish("worker.heartbeat", {"type": "worker-heartbeat"})
        sender.publish("task.sent", {"type": "task-sent"})
        workers: list[object] = []
        while not workers:
            batch = listener.receive(timeout=5, routing_key="worker.#")
            assert batch, "no event arrived"
            workers += batch
        everything: list[object] = []
        while len(everything) < 3:
            batch = listener.receive(timeout=5)
            assert batch, "no event arrived"
            everything += batch
        sender.publish("worker.offline", {"type": "worker-offline"})
        while len(workers) < 2:
            batch = listener.receive(timeout=5, routing_key="worker.#")
            assert batch, "no event arrived"
            workers += batch
        assert workers == [{"type": "worker-heartbeat"}, {"type": "worker-offline"}]
        assert everything == [
            [{"type": "task-started"}],
            {"type": "worker-heartbeat"},
            {"type": "task-sent"},
        ]
