"""Signals: connecting, sender filtering, weak references, and the publish signals."""

from __future__ import annotations

import gc
import logging
import uuid
from typing import Any

import pytest

from celeriac import Celery, signals
from celeriac.brokers.memory import MemoryBroker
from celeriac.signals import Signal


def test_connect_as_decorator_and_send() -> None:
    sig = Signal("demo")
    calls: list[tuple[Any, dict[str, Any]]] = []

    @sig.connect
    def receiver(sender: Any, **kwargs: Any) -> str:
        calls.append((sender, kwargs))
        return "done"

    assert sig.send(sender="me", x=1) == [(receiver, "done")]
    assert calls == [("me", {"signal": sig, "x": 1})]
    assert sig.disconnect(receiver)
    assert sig.send(sender="me") == []


def test_sender_filter_accepts_objects_and_task_names() -> None:
    sig = Signal("demo")
    seen: list[Any] = []
    sig.connect(lambda sender, **kw: seen.append(sender), sender="proj.add", weak=False)

    class FakeTask:
        name = "proj.add"

    task = FakeTask()
    sig.send(sender="other")
    sig.send(sender=task)
    sig.send(sender="proj.add")
    assert seen == [task, "proj.add"]


def test_weak_receivers_go_away_with_their_owner() -> None:
    sig = Signal("demo")

    def receiver(**_: Any) -> None:
        return None

    sig.connect(receiver)
    assert sig.receivers == [receiver]
    del receiver
    gc.collect()
    assert sig.send(sender=None) == []


def test_a_failing_receiver_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sig = Signal("demo")
    ran: list[str] = []

    def broken(**_: Any) -> None:
        raise RuntimeError("boom")

    def fine(**_: Any) -> None:
        ran.append("fine")

    sig.connect(broken)
    sig.connect(fine)
    with caplog.at_level(logging.ERROR):
        responses = sig.send(sender=None)
    assert ran == ["fine"]
    assert isinstance(responses[0][1], RuntimeError)
    assert "boom" in caplog.text


def test_dispatch_uid_connects_once() -> None:
    sig = Signal("demo")

    def receiver(**_: Any) -> None:
        return None

    sig.connect(receiver, dispatch_uid="x")
    sig.connect(receiver, dispatch_uid="x")
    assert len(sig.receivers) == 1


def test_publish_signals_fire_with_celerys_arguments() -> None:
    name = f"signals-{uuid.uuid4().hex}"
    app = Celery("sig", broker=f"memory://{name}", set_as_current=False)
    seen: dict[str, dict[str, Any]] = {}

    def before(sender: Any, **kwargs: Any) -> None:
        kwargs["headers"]["x-added"] = "by hook"  # receivers may add headers
        seen["before"] = {"sender": sender, **kwargs}

    def after(sender: Any, **kwargs: Any) -> None:
        seen["after"] = {"sender": sender, **kwargs}

    signals.before_task_publish.connect(before)
    signals.after_task_publish.connect(after)
    try:
        app.send_task("proj.add", (2, 2), queue="work")
    finally:
        signals.before_task_publish.disconnect(before)
        signals.after_task_publish.disconnect(after)
    assert seen["before"]["sender"] == "proj.add"
    assert seen["before"]["body"][0] == [2, 2] and seen["before"]["routing_key"] == "work"
    assert set(seen["before"]) >= {"exchange", "headers", "properties", "declare", "retry_policy"}
    assert seen["after"]["sender"] == "proj.add" and seen["after"]["routing_key"] == "work"
    [message] = app.broker.peek("work")
    assert message.headers["x-added"] == "by hook"
    app.close()
    MemoryBroker.reset(name)


def test_every_celery_signal_name_exists() -> None:
    import celery.signals as peer

    names = [n for n in dir(peer) if isinstance(getattr(peer, n), peer.Signal)]
    missing = {n for n in names if not hasattr(signals, n)}
    # Not applicable: eventlet's own pool hooks, the long-deprecated task_sent, click
    # preload options, and the prefork pool's pre-fork hook (celeriac's pool forks itself).
    allowed = {
        "task_sent",
        "eventlet_pool_started",
        "eventlet_pool_preshutdown",
        "eventlet_pool_postshutdown",
        "eventlet_pool_apply",
        "user_preload_options",
        "worker_before_create_process",
    }
    assert missing <= allowed, missing


def test_has_receivers_follows_connect_disconnect_and_collection() -> None:
    sig = Signal("demo")
    assert sig.has_receivers is False

    def receiver(**_: Any) -> None:
        return None

    sig.connect(receiver)
    assert sig.has_receivers is True
    sig.disconnect(receiver)
    assert sig.has_receivers is False
    sig.connect(receiver)
    del receiver
    gc.collect()
    sig.send(sender=None)  # a send drops the receivers that are gone
    assert sig.has_receivers is False


def test_einfo_has_billiards_attributes() -> None:
    from celeriac._internal.einfo import ExceptionInfo

    try:
        raise ValueError("bad")
    except ValueError as exc:
        einfo = ExceptionInfo(exc)
    assert einfo.type is ValueError and isinstance(einfo.exception, ValueError)
    assert einfo.tb is einfo.exception.__traceback__ and einfo.exc_info[0] is ValueError
    assert str(einfo) == einfo.traceback and "ValueError: bad" in einfo.traceback
    assert repr(einfo) == "<ExceptionInfo: ValueError('bad')>"
    assert not einfo.internal
