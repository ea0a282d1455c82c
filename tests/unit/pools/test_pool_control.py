"""Stopping one job, resizing, restarting, and per-child set-up, for prefork and threads."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac.exceptions import WorkerLostError
from celeriac.pools.base import PoolOptions
from celeriac.pools.prefork import PreforkPool
from celeriac.pools.threads import JobTerminated, ThreadPool
from tests.e2e.wait import wait_until
from tests.unit.pools.test_pools import Results, work

MARKS: list[str] = []
BARRIER = threading.Barrier(3)


def busy(payload: Any) -> Any:
    """Like ``work``, plus ``("spin", seconds)``: runs Python code (interruptible) a while."""
    kind, arg = payload
    if kind == "spin":
        deadline = time.monotonic() + arg
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return "spun"
    if kind == "marks":
        return list(MARKS)
    if kind == "together":  # returns only once three jobs run at the same time
        return BARRIER.wait(arg)
    return work(payload)


def mark(text: str) -> None:
    MARKS.append(text)


def record_index(directory: str, index: int) -> None:
    # Written aside then renamed, so the test never reads a file that is still empty.
    Path(directory, f".child-{index}").write_text(str(os.getpid()))
    Path(directory, f".child-{index}").rename(Path(directory, f"child-{index}"))


def test_prefork_terminate_job_kills_its_child_and_replaces_it() -> None:
    pool = PreforkPool(concurrency=2, target=busy)
    pool.start()
    try:
        results = Results()
        number = pool.submit(("spin", 30), results)
        assert number is not None
        assert wait_until(lambda: pool.job_pid(number) is not None)
        victim = pool.job_pid(number)
        assert victim in pool.info()["processes"]
        assert pool.terminate_job(number, signal.SIGTERM)
        [(_, error)] = results.wait(1)
        assert isinstance(error, WorkerLostError) and "SIGTERM" in str(error)
        assert wait_until(lambda: len(pool.info()["processes"]) == 2)
        assert victim not in pool.info()["processes"]
        assert not pool.terminate_job(number, signal.SIGTERM)  # gone: nothing to stop
        assert pool.job_pid(number) is None
    finally:
        pool.stop(wait=True)


def test_prefork_terminating_a_waiting_job_drops_it() -> None:
    pool = PreforkPool(concurrency=1, target=busy)
    pool.start()
    try:
        results = Results()
        pool.submit(("sleep", 0.5), results)
        waiting = pool.submit(("value", "never"), results)
        assert waiting is not None and pool.terminate_job(waiting, signal.SIGTERM)
        [(_, error)] = results.wait(1)
        assert isinstance(error, WorkerLostError) and "before it started" in str(error)
        assert results.wait(2)[1] == ("slept", None)
    finally:
        pool.stop(wait=True)


def test_prefork_resize_to_zero_and_back() -> None:
    pool = PreforkPool(concurrency=2, target=busy)
    pool.resize(0)  # before start: it starts with no child at all
    pool.start()
    try:
        assert pool.limit == 0 and pool.info()["processes"] == []
        pool.resize(1)
        results = Results()
        pool.submit(("value", 1), results)
        assert results.wait(1) == [(1, None)]
    finally:
        pool.stop(wait=True)


def test_prefork_initializer_runs_in_each_child_with_its_index(tmp_path: Path) -> None:
    init = PoolOptions(initializer=lambda index: record_index(str(tmp_path), index))
    pool = PreforkPool(concurrency=2, target=busy, options=init)
    pool.start()
    try:
        assert wait_until(lambda: len(list(tmp_path.glob("child-*"))) == 2)
        assert wait_until(lambda: len(pool.info()["processes"]) == 2)
        pids = {int(p.read_text()) for p in tmp_path.iterdir()}
        assert sorted(p.name for p in tmp_path.iterdir()) == ["child-1", "child-2"]
        assert pids == set(pool.info()["processes"])
    finally:
        pool.stop(wait=True)


def test_prefork_restart_replaces_children_after_preparing_the_fork_server() -> None:
    MARKS.clear()
    pool = PreforkPool(concurrency=2, target=busy)
    pool.start()
    try:
        before = set(pool.info()["processes"])
        results = Results()
        pool.submit(("spin", 0.3), results)  # a busy child is replaced after its job
        pool.restart(functools.partial(mark, "prepared"))
        assert results.wait(1) == [("spun", None)]
        assert wait_until(lambda: not set(pool.info()["processes"]) & before)
        assert wait_until(lambda: len(pool.info()["processes"]) == 2)
        pool.submit(("marks", None), results)
        assert results.wait(2)[1] == (["prepared"], None)  # the new child saw it
        assert MARKS == []  # it ran in the fork server, not here
    finally:
        pool.stop(wait=True)


def test_threads_terminate_job_raises_in_that_thread_only() -> None:
    pool = ThreadPool(concurrency=2, target=busy)
    pool.start()
    try:
        results = Results()
        stopped = pool.submit(("spin", 30), results)
        pool.submit(("spin", 0.3), results)
        assert stopped is not None
        assert wait_until(lambda: pool.job_pid(stopped) == os.getpid())
        assert pool.terminate_job(stopped, signal.SIGTERM)
        first, second = results.wait(2)
        assert isinstance(first[1], JobTerminated)
        assert second == ("spun", None)
        assert not pool.terminate_job(stopped, signal.SIGTERM)
        pool.submit(("value", "next"), results)  # the thread lives on, unharmed
        assert results.wait(3)[2] == ("next", None)
    finally:
        pool.stop(wait=True)


def test_threads_resize_adds_and_removes_threads() -> None:
    pool = ThreadPool(concurrency=1, target=busy)
    pool.start()
    try:
        pool.resize(3)
        assert pool.limit == 3
        results = Results()
        BARRIER.reset()
        for _ in range(3):
            pool.submit(("together", 10), results)
        assert all(error is None for _, error in results.wait(3))
        pool.resize(1)
        assert pool.limit == 1
        pool.submit(("value", 1), results)
        assert results.wait(4)[3] == (1, None)
    finally:
        pool.stop(wait=True)


@pytest.mark.parametrize("cls", [PreforkPool, ThreadPool])
def test_submit_numbers_jobs(cls: Any) -> None:
    pool = cls(concurrency=1, target=busy)
    pool.start()
    try:
        results = Results()
        numbers = [pool.submit(("value", i), results) for i in range(3)]
        results.wait(3)
        assert len(set(numbers)) == 3 and all(isinstance(n, int) for n in numbers)
    finally:
        pool.stop(wait=True)
