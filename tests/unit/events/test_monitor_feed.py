"""The monitor's background work over the memory broker, and its command line."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker
from celeriac.cli.main import main
from celeriac.events import EventDispatcher, State
from celeriac.events._monitor_feed import ControlRunner, EventFeed, describe_revoke
from tests.e2e.wait import wait_until


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"monitor-{uuid.uuid4().hex}"
    app = Celery("mon", broker=f"memory://{name}", set_as_current=False)
    yield app
    MemoryBroker.reset(name)
    app.close()


def test_feed_applies_events_to_the_state(app: Celery) -> None:
    state, lock = State(), threading.Lock()
    feed = EventFeed(app, state, lock)
    feed.start()
    try:
        assert wait_until(lambda: feed.listening)
        dispatcher = EventDispatcher(app.broker.event_channel(), hostname="w1@box")
        dispatcher.send("worker-online", freq=60.0)
        dispatcher.send_task_event("task-started", uuid="t1", name="proj.add")
        dispatcher.flush()
        assert wait_until(lambda: "t1" in state.tasks and "w1@box" in state.workers)
        assert state.tasks["t1"].state == "STARTED"
        assert feed.error is None
    finally:
        feed.stop()


def test_feed_shows_a_broker_error_and_keeps_trying(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "x.sqlite3"
    app = Celery("mon", broker=f"sqlite:///{missing}", set_as_current=False)
    feed = EventFeed(app, State(), threading.Lock(), retry_delay=0.05)
    feed.start()
    try:
        assert wait_until(lambda: feed.error is not None)
        assert not feed.listening
        missing.parent.mkdir()
        assert wait_until(lambda: feed.listening and feed.error is None)
    finally:
        feed.stop()
        app.close()


def test_describe_revoke() -> None:
    no_reply = "Revoked t1 (stored; no worker replied within 1s)"
    assert describe_revoke("t1", False, [], 1.0) == no_reply
    replies = [{"w1@box": {"ok": "tasks t1 flagged as revoked"}}, {"w2@box": {"error": "no"}}]
    assert (
        describe_revoke("t1", True, replies, 1.0) == "Terminated t1 (w1@box: ok; w2@box: error: no)"
    )


def test_control_runner_revokes_durably_and_reports(app: Celery) -> None:
    reports: list[tuple[str, bool]] = []
    runner = ControlRunner(
        app, lambda text, is_error: reports.append((text, is_error)), reply_timeout=0.05
    )
    runner.revoke("t1", terminate=True)
    runner.close()
    assert reports == [("Terminated t1 (stored; no worker replied within 0.05s)", False)]
    assert "t1" in app.broker.mailbox().load_revoked()


def test_the_monitor_needs_a_terminal() -> None:
    result = CliRunner().invoke(main, ["-b", "memory://monitor-cli", "events"])
    assert result.exit_code == 2
    assert "the monitor needs a terminal; use --dump to print events" in result.output
