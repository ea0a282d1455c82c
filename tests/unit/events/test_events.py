"""Dispatcher -> channel -> receiver -> State and Dumper, over the memory broker."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker
from celeriac.events import Event, EventDispatcher, EventReceiver, State, utcoffset
from celeriac.events.dumper import Dumper, humanize_type


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"events-{uuid.uuid4().hex}"
    app = Celery("ev", broker=f"memory://{name}", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


def test_event_has_type_and_timestamp() -> None:
    event = Event("task-sent", uuid="x")
    assert event["type"] == "task-sent" and isinstance(event["timestamp"], float)
    assert Event("task-sent", timestamp=5.0)["timestamp"] == 5.0


def test_utcoffset_is_hours_west() -> None:
    assert utcoffset() == (time.altzone if time.localtime().tm_isdst else time.timezone) / 3600


def test_task_events_are_batched_on_task_multi(app: Celery) -> None:
    receiver = EventReceiver(app)
    list(receiver.events(timeout=0))  # start listening
    dispatcher = EventDispatcher(app.broker.event_channel(), hostname="w1@h")
    dispatcher.send_task_event("task-received", uuid="a", name="t", args="()", kwargs="{}")
    dispatcher.send_task_event("task-started", uuid="a")
    assert list(receiver.events(timeout=0)) == []  # still buffered
    dispatcher.flush()
    got = list(receiver.events(timeout=5))
    assert [e["type"] for e in got] == ["task-received", "task-started"]
    assert all(e["hostname"] == "w1@h" and "local_received" in e for e in got)
    assert got[0]["clock"] < got[1]["clock"]


def test_disabled_dispatcher_sends_no_task_events_but_worker_events(app: Celery) -> None:
    receiver = EventReceiver(app)
    list(receiver.events(timeout=0))
    dispatcher = EventDispatcher(app.broker.event_channel(), hostname="w1@h", enabled=False)
    dispatcher.send_task_event("task-started", uuid="a")
    dispatcher.send("worker-heartbeat", **dispatcher.worker_fields(freq=2.0, active=0, processed=3))
    dispatcher.flush()
    [event] = list(receiver.events(timeout=5))
    assert event["type"] == "worker-heartbeat" and event["processed"] == 3
    assert event["sw_ident"] == "py-celery" and len(event["loadavg"]) == 3


def test_capture_calls_handlers_and_stops_at_limit(app: Celery) -> None:
    seen: list[str] = []
    receiver = app.events.Receiver(
        handlers={
            "task-failed": lambda e: seen.append("failed"),
            "*": lambda e: seen.append(e["type"]),
        }
    )
    list(receiver.events(timeout=0))
    dispatcher = app.events.Dispatcher(hostname="w@h")
    for kind in ("task-sent", "task-failed", "worker-online"):
        dispatcher.send(kind, uuid="u")
    receiver.capture(limit=3, timeout=5)
    assert seen == ["task-sent", "failed", "worker-online"]


def test_a_receiver_with_a_routing_key_gets_only_those_events(app: Celery) -> None:
    state = State()
    receiver = app.events.Receiver(handlers={"*": state.event}, routing_key="worker.#")
    list(receiver.events(timeout=0))
    dispatcher = app.events.Dispatcher(hostname="w1@h")
    dispatcher.send_task_event("task-started", uuid="a")
    dispatcher.flush()
    dispatcher.send("task-sent", uuid="b")
    dispatcher.send("worker-online", **dispatcher.worker_fields(freq=2.0, active=0, processed=0))
    receiver.capture(limit=1, timeout=5)
    assert [w.hostname for w in state.alive_workers()] == ["w1@h"]
    assert not state.tasks and list(receiver.events(timeout=0)) == []


def test_task_events_given_as_dicts_get_the_common_fields(app: Celery) -> None:
    receiver = EventReceiver(app)
    list(receiver.events(timeout=0))
    dispatcher = EventDispatcher(app.broker.event_channel(), hostname="w1@h")
    dispatcher.buffer_task_event("task-succeeded", {"uuid": "a", "runtime": 0.5, "result": "1"})
    dispatcher.send_task_event("task-started", uuid="b")
    dispatcher.flush()
    got = list(receiver.events(timeout=5))
    for event in got:
        assert set(event) >= {"type", "timestamp", "hostname", "utcoffset", "pid", "clock"}
        assert event["hostname"] == "w1@h" and event["utcoffset"] == utcoffset()
        assert event["pid"] == os.getpid()
    assert [(e["type"], e["uuid"]) for e in got] == [("task-succeeded", "a"), ("task-started", "b")]
    assert got[0]["runtime"] == 0.5 and got[0]["result"] == "1"


def test_state_follows_a_task_and_never_goes_back() -> None:
    state = State()
    now = time.time()
    state.event(Event("worker-online", hostname="w1", freq=2.0, local_received=now))
    state.event(
        Event(
            "task-received", uuid="t1", name="proj.add", args="(1, 2)", hostname="w1", timestamp=now
        )
    )
    state.event(
        Event(
            "task-succeeded", uuid="t1", result="3", runtime=0.1, hostname="w1", timestamp=now + 1
        )
    )
    state.event(Event("task-started", uuid="t1", hostname="w1", timestamp=now + 0.5))
    task = state.tasks["t1"]
    assert task.state == "SUCCESS" and task.name == "proj.add" and task.result == "3"
    assert task.worker is not None and task.worker.hostname == "w1"
    assert task.started == now + 0.5 and task.succeeded == now + 1
    assert [w.hostname for w in state.alive_workers()] == ["w1"]
    state.event(Event("worker-offline", hostname="w1"))
    assert state.alive_workers() == []


def test_state_is_bounded() -> None:
    state = State(max_tasks_in_memory=10)
    for i in range(25):
        state.event(Event("task-received", uuid=f"t{i}", hostname="w"))
    assert len(state.tasks) == 10 and "t24" in state.tasks and "t0" not in state.tasks
    assert state.task_count == 25


def test_dumper_lines_have_celerys_shape() -> None:
    lines: list[str] = []
    dumper = Dumper(lines.append)
    dumper.on_event(
        Event(
            "task-received",
            uuid="u1",
            name="proj.add",
            args="(20, 22)",
            kwargs="{}",
            hostname="w1@box",
            timestamp=0.0,
            clock=3,
        )
    )
    dumper.on_event(
        Event(
            "task-succeeded",
            uuid="u1",
            result="42",
            runtime=0.009,
            hostname="w1@box",
            timestamp=1.5,
            clock=4,
        )
    )
    dumper.on_event(Event("worker-online", hostname="w1@box", timestamp=2.0, freq=2.0))
    assert lines[0] == (
        "w1@box [1970-01-01 00:00:00+00:00] task received: "
        "proj.add(u1) args=(20, 22) kwargs={} clock=3"
    )
    assert lines[1] == (
        "w1@box [1970-01-01 00:00:01.500000+00:00] task succeeded: "
        "proj.add(u1) args=(20, 22) kwargs={} clock=4, result=42, runtime=0.009"
    )
    assert lines[2] == "w1@box [1970-01-01 00:00:02+00:00] started: freq=2.0"
    assert humanize_type("worker-heartbeat") == "heartbeat"


def test_clients_send_task_sent_with_celerys_fields_when_asked(app: Celery) -> None:
    @app.task(name="sent.add")
    def add(x: int, y: int) -> int:
        return x + y

    receiver = EventReceiver(app)
    list(receiver.events(timeout=0))
    add.delay(1, 2)  # task_send_sent_event is off by default: nothing is sent
    app.conf.task_send_sent_event = True
    result = add.apply_async((2, 3), countdown=60, expires=120, queue="other")
    [event] = list(receiver.events(timeout=5))
    assert event["type"] == "task-sent"
    assert event["uuid"] == result.id and event["name"] == "sent.add"
    assert (event["args"], event["kwargs"], event["retries"]) == ("(2, 3)", "{}", 0)
    assert event["eta"] is not None and event["expires"] is not None
    assert (event["queue"], event["routing_key"]) == ("other", "other")
    assert event["root_id"] == result.id and event["parent_id"] is None
    assert event["hostname"].startswith(f"gen{os.getpid()}@")
