"""celeriac's pytest plugin, used the way Celery's is: fixtures, overrides, the marker."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import celeriac
from celeriac import Celery, Task, _state, shared_task, states
from celeriac.contrib.testing.app import TEST_BROKER_PREFIX
from celeriac.worker.worker import Worker


@shared_task
def shared_mul(x: int, y: int) -> int:
    return x * y


@shared_task
def shared_pid() -> int:
    return os.getpid()


class CustomTask(Task[Any, Any]):
    """A task base class given through ``celery_parameters``."""


def test_plugin_is_loaded_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("celeriac")
    assert any("celery(**overrides)" in line for line in pytestconfig.getini("markers"))


def test_celery_app_uses_in_process_engines(celery_app: Celery) -> None:
    assert celery_app.main == "celery.tests"
    assert str(celery_app.conf.broker_url).startswith(f"memory://{TEST_BROKER_PREFIX}")
    assert celery_app.conf.result_backend == "cache+memory://"
    assert celery_app.conf.timezone == "UTC"
    assert _state.get_current_app() is not celery_app  # as in Celery: not made current


def test_celery_worker_runs_tasks_through_the_broker(
    celery_app: Celery, celery_worker: Worker
) -> None:
    ran_in: list[str] = []

    @celery_app.task
    def add(x: int, y: int) -> int:
        ran_in.append(threading.current_thread().name)
        return x + y

    result = add.delay(2, 3)
    assert result.get(timeout=10) == 5
    assert result.state == states.SUCCESS
    # Run by the worker's thread from a message, not eagerly in the test's thread.
    assert ran_in == ["celeriac-test-worker"]
    assert isinstance(celery_worker, Worker)
    assert celery_worker.pool_name == "solo"
    assert "celery.ping" in celery_app.tasks  # start_worker's ping check ran


def test_celery_worker_makes_its_app_current(celery_app: Celery, celery_worker: Worker) -> None:
    assert celeriac.current_app is celery_app
    assert shared_mul.delay(6, 7).get(timeout=10) == 42


def test_failures_come_back_as_the_task_raised_them(
    celery_app: Celery, celery_worker: Worker
) -> None:
    @celery_app.task
    def fail() -> None:
        raise KeyError("missing")

    result = fail.delay()
    with pytest.raises(KeyError, match="missing"):
        result.get(timeout=10)
    assert result.state == states.FAILURE


@pytest.mark.celery(task_default_queue="marked", result_extended=True)
def test_celery_marker_overrides_settings(celery_app: Celery, celery_worker: Worker) -> None:
    @celery_app.task(name="marked.echo")
    def echo(value: str) -> str:
        return value

    result = echo.delay("hi")
    assert result.get(timeout=10) == "hi"
    assert [queue.name for queue in celery_worker.queues] == ["marked"]
    assert result.name == "marked.echo"  # result_extended is on


class TestOverriddenFixtures:
    """Each configuration fixture, overridden the way a conftest.py would."""

    @pytest.fixture
    def celery_config(self) -> dict[str, Any]:
        return {"task_default_queue": "work", "task_routes": {"*.urgent": {"queue": "urgent"}}}

    @pytest.fixture
    def celery_parameters(self) -> dict[str, Any]:
        return {"main": "overridden", "task_cls": CustomTask}

    @pytest.fixture
    def celery_worker_pool(self) -> str:
        return "threads"

    @pytest.fixture
    def celery_worker_parameters(self) -> dict[str, Any]:
        # A comma-separated string and a Celery-only option, as Celery's docs show them.
        return {"queues": "work,urgent", "concurrency": 2, "without_heartbeat": False}

    @pytest.fixture
    def celery_includes(self) -> list[str]:
        return ["tests.unit.contrib.included_tasks"]

    def test_app_and_worker_follow_them(self, celery_app: Celery, celery_worker: Worker) -> None:
        @celery_app.task(name="jobs.urgent")
        def urgent() -> str:
            return threading.current_thread().name

        assert celery_app.main == "overridden"
        assert isinstance(urgent, CustomTask)
        assert [queue.name for queue in celery_worker.queues] == ["work", "urgent"]
        assert (celery_worker.pool_name, celery_worker.concurrency) == ("threads", 2)
        # Routed to "urgent" (see the next test), which this worker consumes too; run by
        # a thread of the threads pool.
        assert urgent.delay().get(timeout=10).startswith("celeriac-pool")

    def test_routed_task_waits_in_its_queue_without_a_worker(self, celery_app: Celery) -> None:
        @celery_app.task(name="jobs.urgent")
        def urgent() -> None:
            return None

        urgent.delay()
        assert celery_app.broker.size("urgent") == 1
        assert celery_app.broker.size("work") == 0

    def test_included_modules_are_imported(self, celery_app: Celery, celery_worker: Worker) -> None:
        assert "tests.unit.contrib.included_tasks" in sys.modules
        triple = celery_app.tasks["tests.unit.contrib.included_tasks.triple"]
        assert triple.delay(5).get(timeout=10) == 15


class TestPreforkPool:
    """Prefork children are processes: broker and results must live outside the test's."""

    @pytest.fixture
    def celery_config(self, tmp_path: Path) -> dict[str, Any]:
        return {
            "broker_url": f"sqlite:///{tmp_path / 'broker.sqlite3'}",
            "result_backend": f"sqlite:///{tmp_path / 'results.sqlite3'}",
        }

    @pytest.fixture
    def celery_worker_pool(self) -> str:
        return "prefork"

    def test_tasks_run_in_child_processes(self, celery_worker: Worker) -> None:
        # A module-level task: children know the tasks registered before they forked.
        assert shared_pid.delay().get(timeout=10) != os.getpid()


class TestAppTrap:
    """``use_celery_app_trap``: code falling back on the current app fails loudly."""

    @pytest.fixture
    def use_celery_app_trap(self) -> bool:
        return True

    def test_using_the_current_app_raises(self, celery_app: Celery) -> None:
        with pytest.raises(RuntimeError, match="Test depends on current_app"):
            celeriac.current_app.conf  # noqa: B018
        with pytest.raises(RuntimeError, match="Test depends on current_app"):
            shared_mul.delay(2, 2)

        @celery_app.task
        def noop() -> None:
            return None

        noop.delay()  # the test app itself works
        assert celery_app.broker.size("celery") == 1

    @pytest.mark.usefixtures("depends_on_current_app")
    def test_depends_on_current_app_lifts_it(self, celery_app: Celery) -> None:
        assert celeriac.current_app is celery_app


def test_no_worker_in_the_environment_starts_none(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv("NO_WORKER", "1")
    assert request.getfixturevalue("celery_worker") is None


class TestEnableLogging:
    @pytest.fixture
    def celery_enable_logging(self) -> bool:
        return True

    @pytest.fixture
    def celery_worker_parameters(self, tmp_path: Path) -> dict[str, Any]:
        return {"logfile": str(tmp_path / "worker.log")}

    def test_worker_logs_at_worker_loglevel(
        self, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("WORKER_LOGLEVEL", "info")
        request.getfixturevalue("celery_worker")
        assert "ready." in (tmp_path / "worker.log").read_text()
