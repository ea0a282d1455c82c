"""The result-backend conformance suite (see :mod:`celeriac.testing.conformance`)."""

from __future__ import annotations

import builtins
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, Protocol

import pytest

from celeriac import states
from celeriac.backends.base import ResultBackend
from celeriac.exceptions import TimeoutError

__all__ = ["BackendConformance", "BackendFactory", "ConformanceError"]

_PATIENCE = 10.0  # seconds a test waits for something that should happen at once
_BASE_KEYS = ["status", "result", "traceback", "children", "date_done"]
_EXTENDED_KEYS = ["name", "args", "kwargs", "worker", "retries", "queue"]


class BackendFactory(Protocol):
    """Builds a new, unopened backend on the test's storage.

    Keyword options are :class:`~celeriac.backends.base.ResultBackend`'s (``expires``,
    ``extended`` ...).
    """

    def __call__(self, **options: Any) -> ResultBackend: ...


class ConformanceError(Exception):
    """A user-defined exception, to check that failures keep their class."""


def _request(**fields: Any) -> SimpleNamespace:
    defaults: dict[str, Any] = {
        "task": "tasks.add",
        "args": [2, 3],
        "kwargs": {"z": 1},
        "hostname": "worker1@host",
        "retries": 1,
        "delivery_info": {"routing_key": "celery"},
        "group": None,
        "parent_id": None,
        "children": [],
    }
    return SimpleNamespace(**{**defaults, **fields})


def _wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _PATIENCE
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class BackendConformance:
    """Behaviour every :class:`~celeriac.backends.base.ResultBackend` must have.

    Subclasses provide the ``backend_factory`` fixture (a :class:`BackendFactory`).
    """

    #: Result lifetime used by the expiry tests; raise it for slow engines.
    short_expires = 0.2

    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        """Override: return a :class:`BackendFactory` for this test's storage."""
        raise NotImplementedError("subclasses of BackendConformance provide backend_factory")

    @pytest.fixture
    def make_backend(
        self, backend_factory: BackendFactory
    ) -> Iterator[Callable[..., ResultBackend]]:
        """Build and open backends; close them after the test."""
        made: list[ResultBackend] = []

        def make(**options: Any) -> ResultBackend:
            backend = backend_factory(**options)
            backend.open()
            made.append(backend)
            return backend

        yield make
        for backend in made:
            backend.close()

    @pytest.fixture
    def backend(self, make_backend: Callable[..., ResultBackend]) -> ResultBackend:
        """Return an opened backend."""
        return make_backend()

    @pytest.fixture
    def task_id(self) -> str:
        """Return a task id no other test uses."""
        return str(uuid.uuid4())

    def test_unknown_task_is_pending(self, backend: ResultBackend, task_id: str) -> None:
        meta = backend.get_task_meta(task_id)
        assert meta == {
            "status": states.PENDING,
            "result": None,
            "traceback": None,
            "children": [],
            "date_done": None,
            "task_id": task_id,
        }
        assert list(meta) == [*_BASE_KEYS, "task_id"]

    def test_success_round_trip(self, backend: ResultBackend, task_id: str) -> None:
        value = {"sum": 5, "items": [1, "two", None], "when": dt.datetime(2024, 1, 2, 3, 4, 5)}
        assert backend.mark_as_done(task_id, value) == value
        meta = backend.get_task_meta(task_id)
        assert (meta["status"], meta["result"], meta["task_id"]) == (states.SUCCESS, value, task_id)
        assert dt.datetime.fromisoformat(meta["date_done"]).tzinfo is not None
        assert list(meta) == [*_BASE_KEYS, "task_id"]

    def test_failure_keeps_builtin_exception_class(
        self, backend: ResultBackend, task_id: str
    ) -> None:
        backend.mark_as_failure(task_id, KeyError("missing"), "Traceback (most recent ...)")
        meta = backend.get_task_meta(task_id)
        assert meta["status"] == states.FAILURE
        assert type(meta["result"]) is KeyError
        assert meta["result"].args == ("missing",)
        assert meta["traceback"] == "Traceback (most recent ...)"

    def test_failure_keeps_custom_exception_class(
        self, backend: ResultBackend, task_id: str
    ) -> None:
        backend.mark_as_failure(task_id, ConformanceError("boom", 42))
        result = backend.get_task_meta(task_id)["result"]
        assert type(result) is ConformanceError
        assert result.args == ("boom", 42)

    def test_started_never_overwrites_success(self, backend: ResultBackend, task_id: str) -> None:
        backend.mark_as_done(task_id, 1)
        backend.mark_as_started(task_id, pid=1, hostname="late@host")
        backend.mark_as_retry(task_id, ValueError("late"))
        assert backend.get_task_meta(task_id)["status"] == states.SUCCESS

    def test_ready_state_replaces_started(self, backend: ResultBackend, task_id: str) -> None:
        backend.mark_as_started(task_id, pid=7, hostname="w@h")
        meta = backend.get_task_meta(task_id)
        assert (meta["status"], meta["result"]) == (states.STARTED, {"pid": 7, "hostname": "w@h"})
        backend.mark_as_failure(task_id, ValueError("x"))
        backend.mark_as_done(task_id, "final")  # a ready state replaces a ready state
        meta = backend.get_task_meta(task_id)
        assert (meta["status"], meta["result"]) == (states.SUCCESS, "final")

    def test_forget(self, backend: ResultBackend, task_id: str) -> None:
        backend.mark_as_done(task_id, 1)
        backend.forget(task_id)
        backend.forget(task_id)
        assert backend.get_task_meta(task_id)["status"] == states.PENDING

    def test_expired_result_disappears(
        self, make_backend: Callable[..., ResultBackend], task_id: str
    ) -> None:
        backend = make_backend(expires=self.short_expires)
        backend.mark_as_done(task_id, 1)
        _wait_until(lambda: backend.get_task_meta(task_id)["status"] == states.PENDING)
        backend.cleanup()
        assert backend.get(backend.task_key(task_id)) is None

    def test_expired_ready_result_can_be_replaced(
        self, make_backend: Callable[..., ResultBackend], task_id: str
    ) -> None:
        backend = make_backend(expires=self.short_expires)
        backend.mark_as_done(task_id, 1)
        _wait_until(lambda: backend.get(backend.task_key(task_id)) is None)
        backend.mark_as_started(task_id)
        assert backend.get_task_meta(task_id)["status"] == states.STARTED

    def test_wait_for_returns_when_another_thread_stores(
        self, backend: ResultBackend, task_id: str
    ) -> None:
        timer = threading.Timer(0.1, backend.mark_as_done, (task_id, "late"))
        timer.start()
        try:
            meta = backend.wait_for(task_id, timeout=_PATIENCE)
        finally:
            timer.join()
        assert (meta["status"], meta["result"]) == (states.SUCCESS, "late")

    def test_wait_for_times_out(self, backend: ResultBackend, task_id: str) -> None:
        backend.mark_as_started(task_id)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            backend.wait_for(task_id, timeout=0.2)
        assert isinstance(info.value, builtins.TimeoutError)
        assert time.monotonic() - started >= 0.2

    def test_extended_fields_in_celery_order(
        self, make_backend: Callable[..., ResultBackend], task_id: str
    ) -> None:
        backend = make_backend(extended=True)
        request = _request(group="g-1", parent_id="p-1", children=[["c-1", None]])
        backend.mark_as_done(task_id, 5, request=request)
        meta = backend.get_task_meta(task_id)
        keys = [*_BASE_KEYS, "group_id", "parent_id", *_EXTENDED_KEYS, "task_id"]
        assert list(meta) == keys
        assert meta["name"] == "tasks.add"
        assert (meta["args"], meta["kwargs"]) == ([2, 3], {"z": 1})
        assert (meta["worker"], meta["retries"], meta["queue"]) == ("worker1@host", 1, "celery")
        assert (meta["group_id"], meta["parent_id"]) == ("g-1", "p-1")
        assert meta["children"] == [["c-1", None]]

    def test_extended_fields_only_when_enabled(self, backend: ResultBackend, task_id: str) -> None:
        backend.mark_as_done(task_id, 5, request=_request(parent_id="p-1"))
        assert list(backend.get_task_meta(task_id)) == [*_BASE_KEYS, "parent_id", "task_id"]

    def test_raw_storage_primitives(self, backend: ResultBackend, task_id: str) -> None:
        key = backend.task_key(task_id)
        backend.set(key, b"one", ttl=None, is_ready=False)
        backend.set(key, b"two", ttl=None, is_ready=False)
        assert backend.get(key) == b"two"
        backend.set(key, b"\x00ready", ttl=None, is_ready=True)
        backend.set(key, b"late", ttl=None, is_ready=False)
        assert backend.get(key) == b"\x00ready"
        backend.delete(key)
        backend.delete(key)
        assert backend.get(key) is None

    def test_open_and_close_are_idempotent(
        self, backend_factory: BackendFactory, task_id: str
    ) -> None:
        backend = backend_factory()
        backend.open()
        backend.open()
        backend.mark_as_done(task_id, 1)
        backend.close()
        backend.close()
