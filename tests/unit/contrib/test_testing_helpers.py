"""``celeriac.contrib.testing``: the test app, the app trap and ``start_worker``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from celeriac import _state
from celeriac.brokers.memory import MemoryBroker
from celeriac.contrib.testing.app import (
    TEST_BROKER_PREFIX,
    TestApp,
    release_test_broker,
    setup_default_app,
)
from celeriac.contrib.testing.worker import start_worker


def test_test_apps_do_not_share_a_broker() -> None:
    first, second = TestApp(), TestApp()
    assert first.conf.broker_url != second.conf.broker_url
    for app in (first, second):
        assert str(app.conf.broker_url).startswith(f"memory://{TEST_BROKER_PREFIX}")


def test_keyword_settings_win_over_config_and_defaults() -> None:
    app = TestApp(
        config={"task_default_queue": "from-config", "timezone": "Europe/Paris"},
        task_default_queue="from-keyword",
        broker="memory://explicit",
    )
    assert app.conf.task_default_queue == "from-keyword"
    assert app.conf.timezone == "Europe/Paris"
    assert app.conf.broker_url == "memory://explicit"


def test_release_empties_the_test_broker() -> None:
    app = TestApp()

    @app.task
    def noop() -> None:
        return None

    noop.delay()
    name = str(app.conf.broker_url).removeprefix("memory://")
    release_test_broker(app)
    assert MemoryBroker(name=name).size("celery") == 0


def test_setup_default_app_restores_the_current_app_after_the_trap() -> None:
    before = _state.get_current_app()
    app = TestApp()
    with (
        setup_default_app(app, use_trap=True),
        pytest.raises(RuntimeError, match="Test depends on current_app"),
    ):
        _state.get_current_app().tasks  # noqa: B018
    assert _state.get_current_app() is before
    release_test_broker(app)


def test_start_worker_sets_then_restores_the_current_app() -> None:
    before = _state.get_current_app()
    app = TestApp()
    try:
        with start_worker(app, without_mingle=True, without_gossip=True) as worker:
            assert _state.get_current_app() is app
            assert worker.hostname == "celery@test-worker"
            assert "celery.ping" in app.tasks
        assert _state.get_current_app() is before
    finally:
        release_test_broker(app)


def test_ping_check_is_skipped_without_a_result_backend() -> None:
    app = TestApp(config={"result_backend": None})
    try:
        with start_worker(app):
            pass
        assert "celery.ping" not in app.tasks
    finally:
        release_test_broker(app)


def test_loglevel_writes_worker_records_then_removes_its_handler(tmp_path: Path) -> None:
    app = TestApp()
    log = tmp_path / "worker.log"
    logger = logging.getLogger("celeriac")
    handlers, level = list(logger.handlers), logger.level
    try:
        with start_worker(app, loglevel="INFO", logfile=str(log), perform_ping_check=False):
            pass
    finally:
        release_test_broker(app)
    assert "celery@test-worker ready." in log.read_text()
    assert (logger.handlers, logger.level) == (handlers, level)
