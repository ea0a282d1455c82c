"""Golden wire tests on Redis: celeriac and kombu/Celery read each other's bytes."""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac.backends.redis import RedisBackend
from celeriac.brokers.redis import RedisBroker
from celeriac.protocol import build_task_message, parse_task_message

pytestmark = [
    pytest.mark.redis,
    # Celery 5.7 calls redis-py 8's deprecated setex; that is the peer's business.
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker.from_url(redis_url, transport_options={"visibility_timeout": 1.0})
    broker.open()
    yield broker
    broker.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _peer(redis_url: str) -> Any:
    from celery import Celery

    peer = Celery("peer", broker=redis_url, backend=redis_url, set_as_current=False)
    peer.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    return peer


def _task_message(task_id: str, priority: int = 0) -> Any:
    return build_task_message(
        name="interop.add", task_id=task_id, args=[2, 2], kwargs={}, priority=priority
    )


def test_envelope_is_kombus(broker: RedisBroker, raw: Any) -> None:
    task_id = str(uuid.uuid4())
    broker.publish(_task_message(task_id), routing_key="celery")
    (entry,) = raw.lrange("celery", 0, -1)
    envelope = json.loads(entry)
    assert list(envelope) == ["body", "content-encoding", "content-type", "headers", "properties"]
    properties = envelope["properties"]
    assert properties["delivery_info"] == {"exchange": "", "routing_key": "celery"}
    assert properties["body_encoding"] == "base64"
    assert str(uuid.UUID(properties["delivery_tag"])) == properties["delivery_tag"]
    assert properties["correlation_id"] == task_id
    assert list(properties)[-3:] == ["priority", "body_encoding", "delivery_tag"]
    assert envelope["headers"]["id"] == task_id


def test_kombu_reads_what_celeriac_publishes(redis_url: str, broker: RedisBroker, raw: Any) -> None:
    task_id = str(uuid.uuid4())
    broker.publish(_task_message(task_id, priority=6), routing_key="wire")
    assert raw.llen("wire\x06\x166") == 1  # kombu's priority bucket
    with _peer(redis_url).connection_for_read() as conn:
        simple = conn.SimpleQueue("wire")
        received = simple.get(timeout=10)
        assert raw.hlen("unacked") == 1
        received.ack()
        simple.close()
    assert raw.hlen("unacked") == 0
    assert received.headers["task"] == "interop.add"
    assert received.headers["id"] == task_id
    assert received.properties["priority"] == 6
    assert received.content_type == "application/json"
    assert received.decode()[0] == [2, 2]
    assert received.delivery_info["routing_key"] == "wire"


def test_celeriac_reads_what_celery_sends(redis_url: str, broker: RedisBroker, raw: Any) -> None:
    peer = _peer(redis_url)
    sent = peer.send_task("interop.add", (2, 2), {"z": 1}, queue="wire", priority=3)
    delivery = broker.get(["wire"], timeout=10)
    assert delivery is not None
    assert raw.hlen("unacked") == 1 and raw.zcard("unacked_index") == 1
    task = parse_task_message(delivery.message, frozenset({"application/json"}))
    assert (task.name, task.id) == ("interop.add", sent.id)
    assert task.decode_body()[:2] == ([2, 2], {"z": 1})
    assert delivery.message.priority == 3
    assert delivery.routing_key == "wire"
    assert not delivery.redelivered
    broker.ack(delivery)
    assert raw.hlen("unacked") == 0 and raw.zcard("unacked_index") == 0


def test_celeriac_restores_a_dead_kombu_consumers_message(
    redis_url: str, broker: RedisBroker
) -> None:
    peer = _peer(redis_url)
    sent = peer.send_task("interop.add", (1, 1), queue="wire")
    conn = peer.connection_for_read()
    simple = conn.SimpleQueue("wire")
    taken = simple.get(timeout=10)  # never acked: this consumer "dies"
    assert taken.headers["id"] == sent.id
    delivery = broker.get(["wire"], timeout=10)  # after celeriac's 1 s visibility timeout
    assert delivery is not None
    assert delivery.message.headers["id"] == sent.id
    assert delivery.redelivered
    broker.ack(delivery)
    conn.release()


def test_kombu_restores_a_dead_celeriac_consumers_message(
    redis_url: str, broker: RedisBroker, raw: Any
) -> None:
    task_id = str(uuid.uuid4())
    broker.publish(_task_message(task_id), routing_key="wire")
    held = broker.get(["wire"], timeout=10)  # never acked nor renewed
    assert held is not None
    raw.zadd("unacked_index", {held.tag: time.time() - 7200})  # make it look old
    peer = _peer(redis_url)
    with peer.connection_for_read() as conn:
        channel = conn.default_channel
        channel.qos.restore_visible(num=100)
        simple = conn.SimpleQueue("wire")
        again = simple.get(timeout=10)
        again.ack()
        simple.close()
    assert again.headers["id"] == task_id
    assert again.delivery_info.get("redelivered") is True
    assert raw.hlen("unacked") == 0


def test_declared_queue_has_kombus_binding(broker: RedisBroker, raw: Any) -> None:
    broker.declare_queue("celery")
    member = b"celery\x06\x16\x06\x16celery"
    assert raw.smembers("_kombu.binding.celery") == {member}
    assert raw.smembers("_kombu.binding_permanent.celery") == {member}


def test_eta_message_is_held_in_its_sorted_set(broker: RedisBroker, raw: Any) -> None:
    broker.publish(_task_message(str(uuid.uuid4())), routing_key="wire", eta=time.time() + 60)
    assert raw.llen("wire") == 0
    assert raw.zcard("_celeriac.eta.wire") == 1
    assert raw.zscore("_celeriac.eta", "wire") is not None
    assert broker.size("wire") == 1


def test_global_keyprefix_matches_kombu(redis_url: str, raw: Any) -> None:
    options = {"global_keyprefix": "tenant:"}
    broker = RedisBroker.from_url(redis_url, transport_options=options)
    task_id = str(uuid.uuid4())
    broker.publish(_task_message(task_id), routing_key="wire")
    assert raw.llen("tenant:wire") == 1
    peer = _peer(redis_url)
    peer.conf.broker_transport_options = options
    with peer.connection_for_read() as conn:
        simple = conn.SimpleQueue("wire")
        received = simple.get(timeout=10)
        received.ack()
        simple.close()
    assert received.headers["id"] == task_id
    broker.close()


def test_celery_reads_celeriac_results(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url)
    done, failed = str(uuid.uuid4()), str(uuid.uuid4())
    backend.mark_as_done(done, {"sum": 4})
    backend.mark_as_failure(failed, KeyError("nope"), "Traceback ...")
    peer = _peer(redis_url)
    try:
        assert peer.AsyncResult(done).get(timeout=5) == {"sum": 4}
        with pytest.raises(KeyError, match="nope"):
            peer.AsyncResult(failed).get(timeout=5)
        assert peer.AsyncResult(failed).traceback == "Traceback ..."
    finally:
        # A Celery AsyncResult unsubscribes when it is collected, on a connection of its
        # own; the one the raised error keeps alive must go while the peer's pool does.
        gc.collect()
        peer.backend.client.connection_pool.disconnect()
        backend.close()


def test_celeriac_reads_celery_results_and_never_overwrites_them(redis_url: str) -> None:
    peer = _peer(redis_url)
    task_id = str(uuid.uuid4())
    peer.backend.store_result(task_id, 42, "SUCCESS")
    backend = RedisBackend.from_url(redis_url)
    assert backend.wait_for(task_id, timeout=5)["result"] == 42
    backend.mark_as_started(task_id, pid=1, hostname="late@host")
    assert backend.get_task_meta(task_id)["status"] == "SUCCESS"
    backend.close()


def test_group_meta_is_celerys(redis_url: str) -> None:
    backend = RedisBackend.from_url(redis_url)
    group_id, ids = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    backend.save_group(group_id, ids)
    restored = _peer(redis_url).GroupResult.restore(group_id)
    assert [r.id for r in restored.results] == ids
    assert backend.restore_group(group_id) == ids
    backend.delete_group(group_id)
    assert backend.restore_group(group_id) is None
    backend.close()
