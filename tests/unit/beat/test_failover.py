"""High availability: two schedulers share one SQLite file; exactly one sends each run.

A "crash" is a scheduler that stops ticking without closing (it never releases the
lease); the shared fake clock moves both.
"""

from __future__ import annotations

import pytest

from celeriac import Celery
from celeriac.beat import FakeClock, PersistentScheduler, Scheduler
from tests.unit.beat.conftest import sent

LEASE = 3.0


@pytest.fixture(autouse=True)
def every_second(app: Celery) -> None:
    app.conf.beat_schedule = {"tick": {"task": "beatapp.tick", "schedule": 1}}


def beat(app: Celery, clock: FakeClock, path: str, owner: str) -> PersistentScheduler:
    return PersistentScheduler(
        app, schedule_filename=path, clock=clock, lease_timeout=LEASE, owner=owner
    )


def step(clock: FakeClock, *schedulers: Scheduler, seconds: float = 0.5) -> None:
    """Tick each scheduler, then move time on."""
    for scheduler in schedulers:
        scheduler.tick()
    clock.advance(seconds)


def counts(app: Celery) -> int:
    return len(sent(app))


def test_only_the_leader_sends(app: Celery, clock: FakeClock, schedule_path: str) -> None:
    a = beat(app, clock, schedule_path, "a")
    b = beat(app, clock, schedule_path, "b")
    for _ in range(20):  # 10 seconds, both ticking every half second
        step(clock, a, b)
    assert a.is_leader and not b.is_leader
    assert counts(app) == 9  # runs at 1 .. 9.5 s: one per second, none twice


def test_follower_takes_over_after_the_leader_dies(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    a = beat(app, clock, schedule_path, "a")
    b = beat(app, clock, schedule_path, "b")
    for _ in range(8):
        step(clock, a, b)
    sent_by_a = counts(app)
    assert sent_by_a == 3

    # a is killed: it never ticks or closes again. b waits for the lease to expire.
    takeover_ticks = 0
    while not b.is_leader:
        step(clock, b)
        takeover_ticks += 1
    assert takeover_ticks <= LEASE / 0.5 + 1

    # The first tick as leader sends the run that came due meanwhile, once.
    assert counts(app) == sent_by_a + 1
    for _ in range(10):
        step(clock, b)
    after = b.schedule["tick"]
    assert after.total_run_count == counts(app)  # every recorded run was sent exactly once
    assert a.schedule["tick"].total_run_count == sent_by_a  # a's own view stopped there


def test_graceful_stop_hands_over_at_once(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    a = beat(app, clock, schedule_path, "a")
    b = beat(app, clock, schedule_path, "b")
    for _ in range(4):
        step(clock, a, b)
    a.close()
    step(clock, b)
    assert b.is_leader


def test_a_paused_leader_cannot_send_after_losing_the_lease(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    a = beat(app, clock, schedule_path, "a")
    b = beat(app, clock, schedule_path, "b")
    step(clock, a, b)
    clock.advance(LEASE + 1)  # a is frozen (SIGSTOP, a long GC pause) past its lease
    step(clock, b)
    assert b.is_leader and counts(app) == 1
    step(clock, a)  # a wakes up: it finds the lease taken and sends nothing
    assert not a.is_leader and counts(app) == 1


def test_two_leaders_racing_for_one_run_send_it_once(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    # Even if both believed they led (a clock jump), the claim is a compare-and-swap.
    a = beat(app, clock, schedule_path, "a")
    a.tick()
    clock.advance(1)
    stale = a.schedule["tick"]
    a.tick()
    assert counts(app) == 1
    # Replaying the claim a already made, with the state it read before it: refused.
    store = a.store
    from celeriac.beat.store import RunState

    expected = RunState(stale.last_run_at or clock.now(), stale.total_run_count)
    new = RunState(clock.now(), stale.total_run_count + 1)
    assert not store.claim_run("tick", expected=expected, new=new, owner="a", now=clock.now())
