"""Golden wire tests: celeriac and kombu read each other's messages on RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac.brokers.amqp import AmqpBroker
from celeriac.protocol import build_task_message, parse_task_message

pytestmark = pytest.mark.amqp


@pytest.fixture
def queue(amqp_url: str) -> Iterator[str]:
    name = f"wire.{uuid.uuid4().hex[:12]}"
    yield name
    admin = AmqpBroker.from_url(amqp_url, transport_options={})
    admin.open()
    admin.delete_queue(name)
    admin.close()


@pytest.fixture
def broker(amqp_url: str) -> Iterator[AmqpBroker]:
    broker = AmqpBroker.from_url(amqp_url, transport_options={})
    broker.open()
    yield broker
    broker.close()


def _peer(amqp_url: str) -> Any:
    from celery import Celery

    return Celery("peer", broker=amqp_url)


def test_kombu_reads_what_celeriac_publishes(amqp_url: str, broker: AmqpBroker, queue: str) -> None:
    task_id = str(uuid.uuid4())
    message = build_task_message(
        name="interop.add", task_id=task_id, args=[2, 2], kwargs={}, expires=None, eta=None
    )
    broker.publish(message, routing_key=queue)
    with _peer(amqp_url).connection_for_read() as conn:
        simple = conn.SimpleQueue(queue)
        received = simple.get(timeout=10)
        received.ack()
        simple.close()
    assert received.headers["task"] == "interop.add"
    assert received.headers["id"] == task_id
    assert received.properties["correlation_id"] == task_id
    assert received.properties["delivery_mode"] == 2
    assert received.content_type == "application/json"
    assert received.decode()[0] == [2, 2]
    assert received.delivery_info["routing_key"] == queue


def test_celeriac_reads_what_celery_publishes(
    amqp_url: str, broker: AmqpBroker, queue: str
) -> None:
    peer = _peer(amqp_url)
    result = peer.send_task("interop.add", (2, 3), queue=queue, expires=60, priority=0)
    peer.close()
    delivery = broker.get([queue], timeout=10)
    assert delivery is not None
    broker.ack(delivery)
    parsed = parse_task_message(delivery.message, frozenset({"application/json"}))
    assert (parsed.name, parsed.id) == ("interop.add", result.id)
    assert parsed.decode_body()[0] == [2, 3]
    assert parsed.expires is not None
    assert delivery.message.properties["expiration"]  # RabbitMQ applies the TTL
    assert delivery.delivery_info == {
        "exchange": "",
        "routing_key": queue,
        "priority": 0,
        "redelivered": False,
    }
