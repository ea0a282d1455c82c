"""Every pool kind against the same small contract, plus prefork supervision."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import states
from celeriac.exceptions import (
    ImproperlyConfigured,
    SoftTimeLimitExceeded,
    TimeLimitExceeded,
    WorkerLostError,
)
from celeriac.pools.base import Pool, PoolOptions
from celeriac.pools.registry import pool_class
from celeriac.worker.execute import Outcome
from tests.e2e.wait import wait_until


def work(payload: Any) -> Any:
    """The target: ``("value", x)`` returns x, ``("raise", msg)`` raises, ..."""
    kind, arg = payload
    if kind == "value":
        return arg
    if kind == "raise":
        raise ValueError(arg)
    if kind == "sleep":
        time.sleep(arg)
        return "slept"
    if kind == "exit":
        os._exit(arg)
    if kind == "pid":
        return os.getpid()
    raise AssertionError(kind)


class Results:
    def __init__(self) -> None:
        self.items: list[tuple[Any, BaseException | None]] = []
        self.changed = threading.Condition()

    def __call__(self, value: Any, error: BaseException | None) -> None:
        with self.changed:
            self.items.append((value, error))
            self.changed.notify_all()

    def wait(self, count: int, timeout: float = 10) -> list[tuple[Any, BaseException | None]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)


def make(name: str, concurrency: int = 2, **options: Any) -> Pool:
    pool = pool_class(name)(concurrency=concurrency, target=work, options=PoolOptions(**options))
    pool.start()
    return pool


@pytest.fixture(params=["prefork", "threads", "solo"])
def pool(request: pytest.FixtureRequest) -> Iterator[Pool]:
    pool = make(request.param)
    yield pool
    pool.stop(wait=True)


def test_values_and_errors_are_reported(pool: Pool) -> None:
    results = Results()
    pool.submit(("value", 42), results)
    results.wait(1)
    pool.submit(("raise", "boom"), results)
    (value, error), (_, failure) = results.wait(2)
    assert value == 42 and error is None
    assert isinstance(failure, ValueError) and str(failure) == "boom"


def test_prefork_runs_jobs_in_other_processes() -> None:
    pool = make("prefork")
    try:
        results = Results()
        for _ in range(4):
            pool.submit(("pid", None), results)
        pids = {value for value, _ in results.wait(4)}
        assert os.getpid() not in pids
        assert pids <= set(pool.info()["processes"])
    finally:
        pool.stop(wait=True)


def test_prefork_reports_a_lost_child_and_replaces_it() -> None:
    pool = make("prefork", concurrency=1)
    try:
        results = Results()
        pool.submit(("exit", 3), results)
        [(_, error)] = results.wait(1)
        assert isinstance(error, WorkerLostError) and "exitcode 3" in str(error)
        pool.submit(("value", "after"), results)
        assert results.wait(2)[1] == ("after", None)
    finally:
        pool.stop(wait=True)


def test_prefork_time_limits() -> None:
    pool = make("prefork", concurrency=1)
    try:
        results = Results()
        pool.submit(("sleep", 30), results, soft_time_limit=0.1)
        pool.submit(("sleep", 30), results, time_limit=0.1)
        (_, soft), (_, hard) = results.wait(2)
        assert isinstance(soft, SoftTimeLimitExceeded)
        assert isinstance(hard, TimeLimitExceeded)
    finally:
        pool.stop(wait=True)


def test_prefork_max_tasks_per_child() -> None:
    pool = make("prefork", concurrency=1, max_tasks_per_child=1)
    try:
        results = Results()
        for count in range(1, 4):
            pool.submit(("pid", None), results)
            results.wait(count)
        assert len({value for value, _ in results.items}) == 3
    finally:
        pool.stop(wait=True)


def test_prefork_resize_grows_and_shrinks() -> None:
    pool = make("prefork", concurrency=1)
    try:
        pool.resize(3)
        assert pool.limit == 3
        assert wait_until(lambda: len(pool.info()["processes"]) == 3)
        pool.resize(1)
        assert wait_until(lambda: len(pool.info()["processes"]) == 1)
    finally:
        pool.stop(wait=True)


def test_cold_stop_reports_nothing_and_leaves_no_child() -> None:
    pool = make("prefork", concurrency=1)
    results = Results()
    pool.submit(("sleep", 30), results)
    pids = pool.info()["processes"]
    pool.stop(wait=False)
    assert results.items == []
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


class Unpicklable(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(f"code {code}")
        self.lock = threading.Lock()


def test_outcome_with_an_unpicklable_exception_crosses_as_a_stand_in() -> None:
    outcome = Outcome(states.FAILURE, exception=Unpicklable(code=1), traceback="tb text")
    copy = pickle.loads(pickle.dumps(outcome))
    assert type(copy.exception).__name__ == "Unpicklable"
    assert copy.exception.args == ("code 1",)
    assert copy.traceback == "tb text"


def test_registry_names() -> None:
    assert pool_class("processes") is pool_class("prefork")
    assert pool_class("celeriac.pools.threads:ThreadPool").name == "threads"
    assert pool_class("custom", custom="celeriac.pools.solo:SoloPool").name == "solo"
    with pytest.raises(ImproperlyConfigured, match="CELERY_CUSTOM_WORKER_POOL"):
        pool_class("custom")
    assert pool_class("gevent").name == "gevent"  # eventlet: in a process of its own, below
    with pytest.raises(ImproperlyConfigured, match="unknown pool"):
        pool_class("nope")
    with pytest.raises(ImproperlyConfigured, match="not a celeriac Pool"):
        pool_class("celeriac.exceptions:CeleriacError")


@pytest.mark.parametrize("name", ["gevent", "eventlet"])
def test_a_missing_greenlet_library_names_the_extra(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(ImproperlyConfigured, match=rf"pip install 'celeriac\[{name}\]'"):
        pool_class(name)


@pytest.mark.parametrize("name", ["gevent", "eventlet"])
def test_a_greenlet_pool_refuses_an_unpatched_process(name: str) -> None:
    # In a process of its own: importing eventlet arms a warning on every fork.
    program = (
        "from celeriac.exceptions import ImproperlyConfigured\n"
        "from celeriac.pools.registry import pool_class\n"
        f"pool = pool_class({name!r})(concurrency=2, target=print)\n"
        f"assert pool.name == {name!r}\n"
        "try:\n"
        "    pool.start()\n"
        "except ImproperlyConfigured as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert f"the {name} pool needs {name}'s monkey-patching" in run.stdout
