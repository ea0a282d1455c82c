"""Rate limits (token bucket), autoscaling rules and the state file, on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac.worker.autoscale import Autoscaler, parse_autoscale
from celeriac.worker.ratelimit import RateLimits, parse_rate
from celeriac.worker.state_db import StateDB


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("value", "per_second"),
    [("10/s", 10.0), ("100/m", 100 / 60), ("1000/h", 1000 / 3600), ("5", 5.0), (3, 3.0)],
)
def test_parse_rate(value: Any, per_second: float) -> None:
    assert parse_rate(value) == pytest.approx(per_second)


@pytest.mark.parametrize("value", [None, "", 0, "0/s"])
def test_parse_rate_off(value: Any) -> None:
    assert parse_rate(value) == 0.0


@pytest.mark.parametrize("value", ["ten/s", "10/d", "-1/s", -2])
def test_parse_rate_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_rate(value)


def test_one_token_no_burst_and_others_unaffected() -> None:
    clock = Clock()
    rates = {"slow": 10.0}
    limits: RateLimits[str] = RateLimits(lambda name: rates.get(name, 0.0), clock=clock)
    assert limits.admit("slow", "a")
    assert not limits.admit("slow", "b") and not limits.admit("slow", "c")
    assert limits.admit("fast", "x")  # other tasks are not held up
    assert list(limits) == ["b", "c"] and len(limits) == 2
    assert limits.next_due() == pytest.approx(0.1)
    assert limits.due() == []
    clock.now += 0.1
    assert limits.due() == ["b"]
    clock.now += 0.05
    assert limits.due() == []
    assert limits.next_due() == pytest.approx(0.05)


def test_a_late_turn_does_not_slow_the_rate_down() -> None:
    clock = Clock()
    limits: RateLimits[int] = RateLimits(lambda name: 10.0, clock=clock)
    assert limits.admit("t", 0)
    for job in range(1, 6):
        assert not limits.admit("t", job)
    started = []
    for _ in range(5):  # each turn is taken 30 ms late: the next is due on schedule
        clock.now += limits.next_due() + 0.03  # type: ignore[operator]
        started += limits.due()
    assert started == [1, 2, 3, 4, 5]
    assert clock.now == pytest.approx(1000.0 + 0.5 + 0.03)  # not 0.65: delays did not add up


def test_arrivals_after_a_pause_wait_a_full_interval() -> None:
    clock = Clock()
    limits: RateLimits[int] = RateLimits(lambda name: 2.0, clock=clock)
    assert limits.admit("t", 1)
    clock.now += 10
    assert limits.admit("t", 2)
    assert not limits.admit("t", 3)
    assert limits.next_due() == pytest.approx(0.5)


def test_reset_and_lifting_the_limit_releases_held_jobs() -> None:
    clock = Clock()
    rates = {"t": 1.0}
    limits: RateLimits[int] = RateLimits(lambda name: rates.get(name, 0.0), clock=clock)
    for job in range(4):
        limits.admit("t", job)
    rates["t"] = 0.0
    limits.reset("t")
    assert limits.next_due() == 0.0
    assert limits.due() == [1, 2, 3] and len(limits) == 0


def test_remove_and_clear() -> None:
    limits: RateLimits[int] = RateLimits(lambda name: 1.0, clock=Clock())
    for job in range(5):
        limits.admit("t", job)
    assert limits.remove(lambda job: job % 2 == 0) == [1, 3]
    assert limits.clear() == [2, 4] and len(limits) == 0


@pytest.mark.parametrize(
    ("value", "expected"), [("10,3", (10, 3)), ("3,10", (10, 3)), ("4", (4, 0))]
)
def test_parse_autoscale(value: str, expected: tuple[int, int]) -> None:
    assert parse_autoscale(value) == expected


@pytest.mark.parametrize("value", ["a,b", "1,2,3", "0", "5,-1", ""])
def test_parse_autoscale_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_autoscale(value)


class FakePool:
    def __init__(self, size: int) -> None:
        self.limit = size

    def resize(self, size: int) -> None:
        self.limit = size


def test_autoscaler_grows_at_once_and_shrinks_after_keepalive() -> None:
    clock, pool, load = Clock(), FakePool(1), [0]
    scaler = Autoscaler(
        pool,  # type: ignore[arg-type]
        lambda: load[0],
        max_concurrency=4,
        min_concurrency=1,
        keepalive=30,
        clock=clock,
    )
    load[0] = 10
    scaler.on_received(None)  # type: ignore[arg-type]
    assert pool.limit == 4  # capped at max
    load[0] = 0
    assert not scaler.maybe_scale()  # still busy recently
    clock.now += 31
    assert scaler.maybe_scale() and pool.limit == 1  # down to min
    assert scaler.info() == {"max": 4, "min": 1, "current": 1, "qty": 0}
    assert scaler.update(max=2, min=2) == (2, 2) and pool.limit == 2
    assert scaler.update(max=1) == (1, 2) and pool.limit == 1


def test_state_db_keeps_revoked_ids_and_the_clock(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "w1.db")
    db = StateDB(path)
    db.add_revoked({"a": 9e12, "b": 1.0})  # b has long expired
    db.save_clock(42)
    db.close()
    revoked, clock = StateDB(path).load()
    assert revoked == {"a": 9e12} and clock == 42


def test_state_db_moves_a_foreign_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "w1.state"
    path.write_bytes(b"not sqlite at all, a shelve file perhaps" * 10)
    assert StateDB(str(path)).load() == ({}, 0)
    assert (tmp_path / "w1.state.old").exists()
