"""Fixtures and helpers shared by the broker conformance suite."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import pytest

from celeriac.brokers.base import Broker, Delivery
from celeriac.protocol import Message

__all__ = [
    "PATIENCE",
    "BrokerFactory",
    "BrokerFixtures",
    "later",
    "message",
    "numbers",
    "take_all",
    "take_marked",
]

PATIENCE = 10.0  # seconds a test waits for something that should happen at once


class BrokerFactory(Protocol):
    """Builds a new, unopened broker on the test's storage."""

    def __call__(self, *, visibility_timeout: float = ...) -> Broker: ...


def message(n: int = 0, *, priority: int | None = None, **headers: Any) -> Message:
    properties: dict[str, Any] = {"correlation_id": f"id-{n}", "delivery_mode": 2}
    if priority is not None:
        properties["priority"] = priority
    return Message(f"body {n}".encode(), {"n": n, **headers}, properties)


def numbers(deliveries: Sequence[Delivery]) -> list[int]:
    return [delivery.message.headers["n"] for delivery in deliveries]


def take_all(broker: Broker, queues: Sequence[str]) -> list[Delivery]:
    taken = []
    while (delivery := broker.get(queues, timeout=0)) is not None:
        taken.append(delivery)
    return taken


def take_marked(broker: Broker, queue: str, marker: str) -> Delivery:
    """Lease the message of ``queue`` whose ``marker`` header is set, leaving the rest."""
    others = []
    try:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            delivery = broker.get([queue], timeout=1.0)
            if delivery is not None and delivery.message.headers.get("marker") == marker:
                return delivery
            if delivery is not None:
                others.append(delivery)
        raise AssertionError(f"no message marked {marker!r} arrived in {queue!r}")
    finally:
        for other in others:
            broker.requeue(other)


def later(delay: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


class BrokerFixtures:
    """The fixtures of the broker suite; subclasses provide ``broker_factory``."""

    #: Lease length used by the lease-expiry tests; raise it for slow engines.
    short_visibility_timeout = 0.5

    @pytest.fixture
    def broker_factory(self) -> BrokerFactory:
        """Override: return a :class:`BrokerFactory` for this test's storage."""
        raise NotImplementedError("subclasses of BrokerConformance provide broker_factory")

    @pytest.fixture
    def make_broker(self, broker_factory: BrokerFactory) -> Iterator[Callable[..., Broker]]:
        """Build and open brokers; close them after the test."""
        made: list[Broker] = []

        def make(**options: float) -> Broker:
            broker = broker_factory(**options)
            broker.open()
            made.append(broker)
            return broker

        yield make
        for broker in made:
            broker.close()

    @pytest.fixture
    def broker(self, make_broker: Callable[..., Broker]) -> Broker:
        """Return an opened broker."""
        return make_broker()

    @pytest.fixture
    def queue(self) -> str:
        """Return a queue name no other test uses."""
        return f"conformance.{uuid.uuid4().hex[:12]}"
