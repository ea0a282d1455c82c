"""Memory broker specifics: URLs and named stores."""

from __future__ import annotations

import uuid

import pytest

from celeriac.brokers.memory import MemoryBroker
from celeriac.brokers.registry import broker_from_url
from celeriac.exceptions import ImproperlyConfigured
from celeriac.protocol import Message


def _name() -> str:
    return f"unit-{uuid.uuid4().hex}"


def test_brokers_with_the_same_name_share_messages() -> None:
    name = _name()
    try:
        producer = MemoryBroker.from_url(f"memory://{name}")
        consumer = broker_from_url(f"memory://{name}")
        stranger = MemoryBroker.from_url(f"memory://{_name()}")
        producer.publish(Message(b"x", {}, {}), routing_key="q")
        assert stranger.get(["q"], timeout=0) is None
        delivery = consumer.get(["q"], timeout=0)
        assert delivery is not None
        assert delivery.message.body == b"x"
    finally:
        MemoryBroker.reset(name)


def test_reset_empties_a_store() -> None:
    name = _name()
    broker = MemoryBroker(name=name)
    broker.publish(Message(b"x", {}, {}), routing_key="q")
    MemoryBroker.reset(name)
    assert broker.size("q") == 0


def test_url_and_options() -> None:
    broker = MemoryBroker.from_url("memory://", transport_options={"visibility_timeout": 2})
    assert (broker.name, broker.url, broker.visibility_timeout) == ("", "memory://", 2.0)
    with pytest.raises(ImproperlyConfigured):
        MemoryBroker.from_url("sqlite:///x")


def test_consumers_get_copies_not_the_producers_objects() -> None:
    broker = MemoryBroker(name=_name())
    headers = {"nested": {"a": 1}}
    broker.publish(Message(b"x", headers, {}), routing_key="q")
    headers["nested"]["a"] = 2
    delivery = broker.get(["q"], timeout=0)
    assert delivery is not None
    assert delivery.message.headers == {"nested": {"a": 1}}
    MemoryBroker.reset(broker.name)
