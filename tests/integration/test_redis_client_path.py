"""The client's side on Redis: its own publish connection, and waiting for results.

No worker runs here: the test stores (or only publishes) each result itself, at the
moment it wants, through the same backend the worker would use.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from celeriac import Celery, states

pytestmark = pytest.mark.redis


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    app = Celery("client", broker=redis_url, backend=redis_url, set_as_current=False)

    @app.task(shared=False, name="client.add")
    def add(x: int, y: int) -> int:
        return x + y

    yield app
    app.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _subscribers(raw: redis.Redis, task_id: str) -> int:
    return int(raw.pubsub_numsub(f"celery-task-meta-{task_id}")[0][1])


def _wait_once(app: Celery) -> None:
    """One send and wait: from then on this thread subscribes before it sends."""
    result = app.tasks["client.add"].delay(0, 0)
    app.backend.store_result(result.id, 0, states.SUCCESS)
    assert result.get(timeout=5) == 0


def test_a_thread_that_never_waited_does_not_subscribe(app: Celery, raw: redis.Redis) -> None:
    result = app.tasks["client.add"].delay(2, 2)
    assert _subscribers(raw, result.id) == 0  # an early one is confirmed before sending
    app.backend.store_result(result.id, 4, states.SUCCESS)
    assert result.get(timeout=5) == 4
    follow = app.tasks["client.add"].delay(2, 2)
    assert _subscribers(raw, follow.id) == 1
    app.backend.store_result(follow.id, 4, states.SUCCESS)
    assert follow.get(timeout=5) == 4


def test_a_result_stored_before_the_client_waits_is_returned(app: Celery) -> None:
    result = app.tasks["client.add"].delay(2, 2)
    app.backend.store_result(result.id, 4, states.SUCCESS)
    assert result.get(timeout=5) == 4


def test_the_value_comes_from_the_publish_when_nothing_is_stored(
    app: Celery, raw: redis.Redis
) -> None:
    # Subscribed before sending: a value only published (never stored) still arrives.
    _wait_once(app)
    result = app.tasks["client.add"].delay(2, 2)
    assert _wait_until(lambda: _subscribers(raw, result.id) == 1)
    started = app.backend.encode(app.backend.build_meta(result.id, None, states.STARTED))
    done = app.backend.encode(app.backend.build_meta(result.id, 4, states.SUCCESS))
    raw.publish(f"celery-task-meta-{result.id}", started)  # not ready: keep waiting
    raw.publish(f"celery-task-meta-{result.id}", done)
    assert raw.get(f"celery-task-meta-{result.id}") is None
    assert result.get(timeout=5) == 4
    assert _wait_until(lambda: _subscribers(raw, result.id) == 0)


def test_a_given_task_id_with_a_stored_result_gets_it_at_once(app: Celery) -> None:
    # Not a new id: a result may be stored before the task is sent, so the key is read.
    task_id = "given-" + os.urandom(4).hex()
    app.backend.store_result(task_id, "before", states.SUCCESS)
    result = app.tasks["client.add"].apply_async((1, 1), task_id=task_id)
    assert result.get(timeout=5) == "before"


def test_a_zero_timeout_still_returns_a_stored_result(app: Celery) -> None:
    _wait_once(app)
    result = app.tasks["client.add"].delay(6, 6)  # subscribed early: no first read
    app.backend.store_result(result.id, 12, states.SUCCESS)
    assert result.get(timeout=0) == 12
    pending = app.tasks["client.add"].delay(1, 1)
    with pytest.raises(TimeoutError):
        pending.get(timeout=0)


def test_a_result_stored_while_waiting_is_heard(app: Celery) -> None:
    result = app.tasks["client.add"].delay(3, 4)
    timer = threading.Timer(0.2, app.backend.store_result, (result.id, 7, states.SUCCESS))
    timer.start()
    try:
        assert result.get(timeout=5) == 7
    finally:
        timer.join()


def test_a_thread_that_never_waits_stops_subscribing_early(app: Celery, raw: redis.Redis) -> None:
    add = app.tasks["client.add"]
    _wait_once(app)
    first, second, third = add.delay(1, 1), add.delay(1, 2), add.delay(1, 3)
    # The first was subscribed early; the second call dropped it and subscribed no more.
    assert _wait_until(lambda: _subscribers(raw, first.id) == 0)
    assert _subscribers(raw, second.id) == 0 and _subscribers(raw, third.id) == 0
    for result, value in ((first, 2), (second, 3), (third, 4)):
        app.backend.store_result(result.id, value, states.SUCCESS)
        assert result.get(timeout=5) == value
    # Once the thread waits again, what it sends next is subscribed to before it goes.
    fourth = add.delay(2, 2)
    assert _wait_until(lambda: _subscribers(raw, fourth.id) == 1)
    app.backend.store_result(fourth.id, 4, states.SUCCESS)
    assert fourth.get(timeout=5) == 4


def test_waiting_for_another_result_first_drops_the_early_subscription(
    app: Celery, raw: redis.Redis
) -> None:
    add = app.tasks["client.add"]
    older = app.AsyncResult("older-" + os.urandom(4).hex())
    app.backend.store_result(older.id, 1, states.SUCCESS)
    _wait_once(app)
    newer = add.delay(5, 5)
    assert older.get(timeout=5) == 1
    assert _wait_until(lambda: _subscribers(raw, newer.id) == 0)
    app.backend.store_result(newer.id, 10, states.SUCCESS)
    assert newer.get(timeout=5) == 10


def test_ignored_results_are_not_subscribed_to(app: Celery, raw: redis.Redis) -> None:
    _wait_once(app)
    result = app.tasks["client.add"].apply_async((1, 1), ignore_result=True)
    follow = app.tasks["client.add"].delay(1, 1)  # subscribes early: the last was skipped
    assert _wait_until(lambda: _subscribers(raw, follow.id) == 1)
    assert _subscribers(raw, result.id) == 0
    app.backend.store_result(follow.id, 2, states.SUCCESS)
    assert follow.get(timeout=5) == 2


def test_publishing_threads_and_a_forked_child_each_use_their_own_connection(
    redis_url: str, raw: redis.Redis
) -> None:
    app = Celery("client", broker=redis_url, set_as_current=False)
    add = app.task(shared=False, name="client.add")(lambda x, y: x + y)
    add.delay(0, 0)  # this thread's connection exists before the fork
    pid = os.fork()
    if pid == 0:  # the child: publish alongside the parent, then report by exit code
        code = 1
        try:
            for _ in range(50):
                add.delay(1, 1)
            code = 0
        finally:
            os._exit(code)
    threads = [threading.Thread(target=lambda: [add.delay(2, 2) for _ in range(50)])]
    threads.append(threading.Thread(target=lambda: [add.delay(3, 3) for _ in range(50)]))
    for thread in threads:
        thread.start()
    for _ in range(50):
        add.delay(4, 4)
    for thread in threads:
        thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert raw.llen("celery") == 1 + 50 * 4
    app.close()


def test_the_broker_publishes_again_after_close(redis_url: str, raw: redis.Redis) -> None:
    app = Celery("client", broker=redis_url, set_as_current=False)
    add = app.task(shared=False, name="client.add")(lambda x, y: x + y)
    add.delay(1, 1)
    app.broker.close()  # its held connections too; the next publish makes new ones
    add.delay(1, 1)
    assert raw.llen("celery") == 2
    app.close()


def test_sending_works_while_the_result_backend_is_unreachable(
    redis_url: str, raw: redis.Redis
) -> None:
    app = Celery("client", broker=redis_url, backend="redis://127.0.0.1:1/0", set_as_current=False)
    add = app.task(shared=False, name="client.add")(lambda x, y: x + y)
    first, second = add.delay(1, 1), add.delay(2, 2)
    assert first.id != second.id
    assert raw.llen("celery") == 2
    app.close()


def test_publish_and_store_survive_a_script_flush(app: Celery, raw: redis.Redis) -> None:
    """A server that lost its scripts (restart, SCRIPT FLUSH) gets them again."""
    _wait_once(app)  # both scripts are loaded and run on this thread's connections
    raw.script_flush()
    result = app.tasks["client.add"].delay(3, 4)
    assert result.id.encode() in b"".join(raw.lrange("celery", 0, -1))
    raw.script_flush()
    app.backend.store_result(result.id, 7, states.SUCCESS)
    assert result.get(timeout=5) == 7
