"""The worker's consumer path, run in a thread over the memory broker and backend."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.brokers.base import Broker, Delivery
from celeriac.brokers.memory import MemoryBroker
from celeriac.exceptions import Ignore, OperationalError, Reject
from celeriac.protocol import Message
from celeriac.testing.worker import start_worker
from tests.e2e.wait import wait_until


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"worker-{uuid.uuid4().hex}"
    app = Celery("t", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


def test_runs_tasks_and_stores_results(app: Celery) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app, concurrency=2):
        assert [add.delay(i, i).get(timeout=5) for i in range(10)] == [i * 2 for i in range(10)]
    assert app.broker.size("celery") == 0


def test_prefetch_limits_what_the_worker_holds(app: Celery) -> None:
    release = threading.Event()
    started = threading.Event()

    @app.task
    def block() -> None:
        started.set()
        release.wait(5)

    results = [block.delay() for _ in range(5)]
    with start_worker(app, concurrency=1, prefetch_multiplier=2):
        assert started.wait(5)
        # One running (acked early) and one reserved; the other three stay in the broker.
        assert wait_until(lambda: app.broker.size("celery") == 3)
        release.set()
        for result in results:
            result.get(timeout=5)


def test_acks_late_keeps_the_message_leased_until_done(app: Celery) -> None:
    release = threading.Event()
    started = threading.Event()

    @app.task(acks_late=True)
    def late() -> str:
        started.set()
        release.wait(5)
        return "done"

    result = late.delay()
    with start_worker(app):
        assert started.wait(5)
        assert app.broker.size("celery") == 0  # leased, not ready
        release.set()
        assert result.get(timeout=5) == "done"


def test_reject_requeue_delivers_again(app: Celery) -> None:
    attempts: list[bool] = []

    @app.task(bind=True, acks_late=True)
    def picky(self: Any) -> int:
        attempts.append(self.request.delivery_info["redelivered"])
        if len(attempts) == 1:
            raise Reject("not yet", requeue=True)
        return len(attempts)

    result = picky.delay()
    with start_worker(app):
        assert result.get(timeout=5) == 2
    assert attempts == [False, True]


def test_ignore_stores_nothing(app: Celery) -> None:
    ran = threading.Event()

    @app.task
    def quiet() -> None:
        ran.set()
        raise Ignore()

    result = quiet.delay()
    with start_worker(app):
        assert ran.wait(5)
        assert wait_until(lambda: app.broker.size("celery") == 0)
    assert result.state == states.PENDING


def test_track_started_records_pid_and_hostname(app: Celery) -> None:
    release = threading.Event()
    started = threading.Event()

    @app.task(track_started=True)
    def slow() -> None:
        started.set()
        release.wait(5)

    result = slow.delay()
    with start_worker(app, hostname="w9@box"):
        assert started.wait(5)
        assert result.state == states.STARTED
        assert result.result["hostname"] == "w9@box"
        assert isinstance(result.result["pid"], int)
        release.set()
        result.get(timeout=5)


def test_callbacks_and_errbacks(app: Celery) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def fail() -> None:
        raise ValueError("boom")

    @app.task
    def record(task_id: str) -> str:
        return task_id

    with start_worker(app, concurrency=2):
        follow = add.s(10).freeze()
        first = add.apply_async((1, 2), link=add.s(10).set(task_id=follow.id))
        assert first.get(timeout=5) == 3
        assert follow.get(timeout=5) == 13
        errback = record.s().freeze()
        failed = fail.apply_async(link_error=record.s().set(task_id=errback.id))
        with pytest.raises(ValueError, match="boom"):
            failed.get(timeout=5)
        assert errback.get(timeout=5) == failed.id


def test_priority_and_queues(app: Celery) -> None:
    order: list[int] = []

    @app.task
    def note(n: int) -> None:
        order.append(n)

    for n, priority in ((1, 0), (2, 9), (3, 5)):
        note.apply_async((n,), queue="work", priority=priority)
    with start_worker(app, queues=["work"], prefetch_multiplier=1):
        assert wait_until(lambda: len(order) == 3)
    assert order == [2, 3, 1]


class FlakyBroker(Broker):
    """A memory broker whose first ``failures`` connection attempts fail."""

    def __init__(self, inner: MemoryBroker, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.url = inner.url
        self.visibility_timeout = inner.visibility_timeout

    @classmethod
    def from_url(cls, url: str, *, transport_options: dict[str, Any]) -> FlakyBroker:
        raise NotImplementedError

    def open(self) -> None:
        if self.failures:
            self.failures -= 1
            raise OperationalError("connection refused")
        self.inner.open()

    def publish(
        self, message: Message, *, exchange: str = "", routing_key: str, eta: float | None = None
    ) -> None:
        self.inner.publish(message, exchange=exchange, routing_key=routing_key, eta=eta)

    def get(self, queues: Sequence[str], timeout: float | None = None) -> Delivery | None:
        return self.inner.get(queues, timeout)

    def ack(self, delivery: Delivery) -> None:
        self.inner.ack(delivery)

    def requeue(self, delivery: Delivery) -> None:
        self.inner.requeue(delivery)

    def purge(self, queue: str) -> int:
        return self.inner.purge(queue)

    def size(self, queue: str) -> int:
        return self.inner.size(queue)

    def peek(self, queue: str, limit: int = 100) -> list[Message]:
        return self.inner.peek(queue, limit)


def test_connection_is_retried_at_start_up(
    app: Celery, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celeriac.worker.connect import connect_broker

    inner = MemoryBroker.from_url(app.broker_url, transport_options={})
    flaky = FlakyBroker(inner, failures=2)

    def use_flaky(_: Celery) -> Broker:
        flaky.open()
        return flaky

    # The app builds brokers from URLs; hand it the flaky one for this test.
    monkeypatch.setattr(Celery, "broker", property(use_flaky))

    async def connect() -> Broker:
        return await connect_broker(app, retry_interval=0.001)

    import asyncio

    assert asyncio.run(connect()) is flaky
    assert sum("Cannot connect" in r.message for r in caplog.records) == 2


def test_connection_retry_can_be_turned_off(app: Celery) -> None:
    from celeriac.worker.connect import connect_broker

    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_url = "sqlite:////nonexistent-dir/x.sqlite3"
    import asyncio

    from celeriac.exceptions import BrokerError

    with pytest.raises(BrokerError, match="nonexistent-dir"):
        asyncio.run(connect_broker(app, retry_interval=2.0))


class AckFailingBroker(FlakyBroker):
    """A memory broker whose first ``ack_failures`` acks fail as a lost connection would."""

    def __init__(self, inner: MemoryBroker, ack_failures: int) -> None:
        super().__init__(inner, failures=0)
        self.ack_failures = ack_failures
        self.acked: list[str] = []

    async def aack(self, deliveries: Sequence[Delivery]) -> None:
        if self.ack_failures:
            self.ack_failures -= 1
            raise OperationalError("connection reset by peer")
        await self.inner.aack(deliveries)
        self.acked += [str(d.message.headers["id"]) for d in deliveries]


def test_a_failed_ack_neither_stops_the_consumer_nor_is_forgotten(
    app: Celery, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = MemoryBroker.from_url(app.broker_url, transport_options={})
    broker = AckFailingBroker(inner, ack_failures=2)
    monkeypatch.setattr(Celery, "broker", property(lambda _: broker))

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app, concurrency=1):
        first = [add.delay(i, i) for i in range(3)]
        assert [r.get(timeout=5) for r in first] == [0, 2, 4]
        later = add.delay(5, 5)  # the consumer still runs after the failed acks
        assert later.get(timeout=5) == 10
        ids = {r.id for r in [*first, later]}
        assert wait_until(lambda: set(broker.acked) >= ids)
    assert sum("Could not ack" in r.message for r in caplog.records) == 2


class TakingBackBroker(FlakyBroker):
    """A memory broker that reports the deliveries of some task ids as taken back."""

    def __init__(self, inner: MemoryBroker, taken_back: set[str]) -> None:
        super().__init__(inner, failures=0)
        self.taken_back = taken_back

    def is_held(self, delivery: Delivery) -> bool:
        return delivery.message.headers["id"] not in self.taken_back


def test_a_message_the_broker_took_back_is_not_started(
    app: Celery, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level("INFO", logger="celeriac.worker.consumer")
    lost = str(uuid.uuid4())
    broker = TakingBackBroker(MemoryBroker.from_url(app.broker_url, transport_options={}), {lost})
    monkeypatch.setattr(Celery, "broker", property(lambda _: broker))
    ran: list[int] = []

    @app.task
    def note(n: int) -> int:
        ran.append(n)
        return n

    with start_worker(app, concurrency=1):
        note.apply_async((1,), task_id=lost)
        assert note.delay(2).get(timeout=5) == 2
        assert wait_until(lambda: any("taken back" in r.message for r in caplog.records))
    assert ran == [2]
