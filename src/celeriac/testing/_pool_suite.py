"""The pool conformance suites (see :mod:`celeriac.testing.conformance`).

:class:`PoolConformance` is what every pool whose jobs run side by side must do;
:class:`SupervisingPoolConformance` adds what a pool that says ``is_supervising``
promises: time limits, terminate, and a cold stop that reports nothing.

A pool's tests subclass one and provide ``pool_factory``: ``make(concurrency, target)``
returning a new, unstarted pool. The jobs' target is :func:`conformance_target`, a
module-level function, so a process pool's children have it too.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from celeriac.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celeriac.pools.base import Pool, Target

__all__ = ["PoolConformance", "PoolFactory", "SupervisingPoolConformance", "conformance_target"]

#: ``make(concurrency, target)``: a new pool, not started.
PoolFactory = Callable[[int, Target], Pool]

#: Seconds any one wait in the suite may take before the test fails.
WAIT = 20.0


def conformance_target(payload: Any) -> Any:
    """The suites' job: ``(kind, arg)`` where kind is value, raise, sleep, soft or pid."""
    kind, arg = payload
    if kind == "value":
        return arg
    if kind == "raise":
        raise ValueError(arg)
    if kind == "sleep":  # returns when it started and when it ended
        started = time.time()
        time.sleep(arg)
        return started, time.time()
    if kind == "soft":
        try:
            time.sleep(arg)
        except SoftTimeLimitExceeded:
            return "soft limit caught"
        return "not interrupted"
    if kind == "pid":
        return os.getpid()
    raise ValueError(f"unknown job kind {kind!r}")


class Reports:
    """An ``on_done`` callback that keeps what it is told, and waits for it."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, BaseException | None]] = []
        self._changed = threading.Condition()

    def __call__(self, value: Any, error: BaseException | None) -> None:
        with self._changed:
            self.items.append((value, error))
            self._changed.notify_all()

    def wait(self, count: int) -> list[tuple[Any, BaseException | None]]:
        """The first ``count`` reports, once there are that many."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.items) >= count, WAIT):
                raise AssertionError(f"{len(self.items)} of {count} job(s) reported")
            return list(self.items)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class PoolConformance:
    """What every pool that runs jobs side by side must do."""

    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        """Override: build a new, unstarted pool of the kind under test."""
        raise NotImplementedError

    @pytest.fixture
    def pool(self, pool_factory: PoolFactory) -> Iterator[Pool]:
        """A started pool of three, stopped (warm) after the test."""
        pool = pool_factory(3, conformance_target)
        pool.start()
        yield pool
        pool.stop(wait=True)

    def test_values_and_errors_are_reported(self, pool: Pool) -> None:
        reports = Reports()
        pool.submit(("value", 42), reports)
        reports.wait(1)
        pool.submit(("raise", "boom"), reports)
        (value, error), (_, failure) = reports.wait(2)
        assert value == 42 and error is None
        assert isinstance(failure, ValueError) and str(failure) == "boom"

    def test_jobs_run_side_by_side_up_to_the_concurrency(self, pool: Pool) -> None:
        assert pool.limit == 3
        reports = Reports()
        for _ in range(3):
            pool.submit(("sleep", 0.5), reports)
        spans = [value for value, error in reports.wait(3) if error is None]
        assert len(spans) == 3
        # Every job started before any ended: all three ran at the same time.
        assert max(start for start, _ in spans) < min(end for _, end in spans)

    def test_a_warm_stop_lets_the_running_job_finish(self, pool_factory: PoolFactory) -> None:
        pool = pool_factory(2, conformance_target)
        pool.start()
        reports = Reports()
        number = pool.submit(("sleep", 0.3), reports)
        if number is not None:
            _wait_until(lambda: pool.job_pid(number) is not None)
        pool.stop(wait=True)
        [(span, error)] = reports.wait(1)
        assert error is None and span[0] < span[1]

    def test_many_jobs_all_report(self, pool: Pool) -> None:
        reports = Reports()
        for index in range(30):
            pool.submit(("value", index), reports)
        assert sorted(value for value, _ in reports.wait(30)) == list(range(30))


class SupervisingPoolConformance(PoolConformance):
    """What a pool that enforces time limits (``is_supervising``) must also do."""

    def test_it_says_it_supervises(self, pool: Pool) -> None:
        assert pool.is_supervising

    def test_the_soft_limit_raises_inside_the_job(self, pool: Pool) -> None:
        reports = Reports()
        pool.submit(("soft", 30), reports, soft_time_limit=0.2)
        assert reports.wait(1) == [("soft limit caught", None)]

    def test_the_hard_limit_ends_the_job_and_the_pool_goes_on(self, pool: Pool) -> None:
        reports = Reports()
        pool.submit(("sleep", 30), reports, time_limit=0.2)
        [(_, error)] = reports.wait(1)
        assert isinstance(error, TimeLimitExceeded)
        pool.submit(("value", "after"), reports)
        assert reports.wait(2)[1] == ("after", None)

    def test_terminate_job_stops_a_running_job(self, pool: Pool) -> None:
        reports = Reports()
        number = pool.submit(("sleep", 30), reports)
        assert number is not None
        _wait_until(lambda: pool.job_pid(number) is not None)
        assert pool.terminate_job(number, signal.SIGTERM)
        [(value, error)] = reports.wait(1)
        assert value is None and error is not None
        assert not pool.terminate_job(number, signal.SIGTERM)  # over: nothing to stop
        pool.submit(("value", "after"), reports)
        assert reports.wait(2)[1] == ("after", None)

    def test_a_cold_stop_ends_running_jobs_and_reports_nothing(
        self, pool_factory: PoolFactory
    ) -> None:
        pool = pool_factory(2, conformance_target)
        pool.start()
        reports = Reports()
        number = pool.submit(("sleep", 30), reports)
        assert number is not None
        _wait_until(lambda: pool.job_pid(number) is not None)
        pool.stop(wait=False)
        assert reports.items == []
