"""PollPace: fast right after activity, the interval when quiet, slower when idle."""

from __future__ import annotations

from celeriac._internal.sqlite import PollPace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fast_after_activity_then_interval_then_cold() -> None:
    clock = Clock()
    pace = PollPace(0.02, clock=clock)
    assert pace.pause() == 0.001  # a wait that just began
    clock.now += 1.5
    assert pace.pause() == 0.02
    clock.now += 10.0
    assert pace.pause() == 0.05
    pace.active()
    assert pace.pause() == 0.001


def test_never_longer_than_what_remains_or_shorter_than_zero() -> None:
    clock = Clock()
    pace = PollPace(0.02, clock=clock)
    clock.now += 2.0
    assert pace.pause(0.005) == 0.005
    assert pace.pause(-1.0) == 0.0


def test_a_long_interval_is_never_shortened_by_the_cold_pace() -> None:
    clock = Clock()
    pace = PollPace(0.5, hot_for=0.0, clock=clock)
    assert pace.pause() == 0.5
    clock.now += 60.0
    assert pace.pause() == 0.5
