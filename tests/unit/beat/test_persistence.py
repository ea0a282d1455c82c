"""PersistentScheduler: run state in the schedule file survives restarts (fake clock)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.beat import FakeClock, PersistentScheduler
from celeriac.beat.sqlite_store import SQLiteScheduleStore
from celeriac.beat.store import RunState, SchedulingError
from celeriac.schedules import crontab
from tests.unit.beat.conftest import T0, sent


def start(app: Celery, clock: FakeClock, path: str) -> PersistentScheduler:
    return PersistentScheduler(app, schedule_filename=path, clock=clock)


def run_counts(app: Celery) -> list[int]:
    return [call["args"][0] for call in sent(app)]


@pytest.fixture(autouse=True)
def every_ten_seconds(app: Celery) -> None:
    app.conf.beat_schedule = {"tick": {"task": "beatapp.tick", "schedule": 10, "args": [1]}}


def test_restart_does_not_repeat_a_run(app: Celery, clock: FakeClock, schedule_path: str) -> None:
    first = start(app, clock, schedule_path)
    first.tick()
    clock.advance(10)
    first.tick()
    first.close()

    clock.advance(5)  # restarted half-way to the next run
    second = start(app, clock, schedule_path)
    second.tick()
    assert len(sent(app)) == 1
    clock.advance(5)
    second.tick()
    assert len(sent(app)) == 2
    assert second.schedule["tick"].total_run_count == 2


def test_restart_after_downtime_sends_the_missed_run_once(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    first = start(app, clock, schedule_path)
    first.tick()
    clock.advance(10)
    first.tick()
    first.close()

    clock.advance(35)  # three runs were due while beat was down
    second = start(app, clock, schedule_path)
    assert second.tick() == 10
    assert len(sent(app)) == 2  # not skipped, not sent three times


def test_a_new_entry_keeps_its_start_across_restarts(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    first = start(app, clock, schedule_path)
    first.tick()  # first seen at T0: due at T0 + 10
    first.close()
    clock.advance(8)
    second = start(app, clock, schedule_path)
    assert second.tick() == 2  # not 10: the interval counts from when it was first seen
    clock.advance(2)
    second.tick()
    assert len(sent(app)) == 1


def test_crontab_run_is_not_repeated_after_restart(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    app.conf.beat_schedule = {"cron": {"task": "beatapp.tick", "schedule": crontab(minute="*/5")}}
    first = start(app, clock, schedule_path)
    first.tick()
    clock.advance(300)  # 12:05
    first.tick()
    first.close()
    clock.advance(1)
    second = start(app, clock, schedule_path)
    second.tick()
    assert len(sent(app)) == 1
    clock.advance(298)
    second.tick()
    assert len(sent(app)) == 1
    clock.advance(1)  # 12:10
    second.tick()
    assert len(sent(app)) == 2


def test_timezone_change_keeps_the_state(app: Celery, clock: FakeClock, schedule_path: str) -> None:
    # Celery resets its schedule when the time zone changes; UTC storage needs no reset.
    first = start(app, clock, schedule_path)
    first.tick()
    clock.advance(10)
    first.tick()
    first.close()
    app.conf.timezone = "Asia/Tokyo"
    second = start(app, clock, schedule_path)
    assert second.schedule["tick"].total_run_count == 1
    assert second.schedule["tick"].last_run_at == clock.now()


def test_entries_removed_from_the_config_are_forgotten(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    start(app, clock, schedule_path).tick()
    app.conf.beat_schedule = {"other": {"task": "beatapp.tick", "schedule": 10}}
    start(app, clock, schedule_path).close()
    store = SQLiteScheduleStore(path=schedule_path)
    assert set(store.load_states()) == set()
    store.close()


def test_state_is_stored_in_utc_iso_format(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    scheduler = start(app, clock, schedule_path)
    scheduler.tick()
    scheduler.close()
    with sqlite3.connect(schedule_path) as conn:
        rows = conn.execute("SELECT name, last_run_at, total_run_count FROM beat_state").fetchall()
    assert rows == [("tick", "2024-05-01T12:00:00+00:00", 0)]


def test_a_celery_shelve_file_is_moved_aside(
    app: Celery, clock: FakeClock, schedule_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    Path(schedule_path).write_bytes(b"\x13W\x9e\x00gdbm file from celery beat")
    scheduler = start(app, clock, schedule_path)
    scheduler.tick()
    scheduler.close()
    assert Path(schedule_path + ".old").read_bytes().startswith(b"\x13W")
    assert "is not a celeriac schedule" in caplog.text


def test_newer_schema_is_refused(schedule_path: str) -> None:
    store = SQLiteScheduleStore(path=schedule_path)
    store.open()
    store.close()
    with sqlite3.connect(schedule_path) as conn:
        conn.execute("UPDATE beat_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchedulingError, match="newer"):
        SQLiteScheduleStore(path=schedule_path).open()


def test_unwritable_location_is_a_scheduling_error(tmp_path: Path) -> None:
    store = SQLiteScheduleStore(path=tmp_path / "missing" / "schedule")
    with pytest.raises(SchedulingError, match="does not exist"):
        store.open()


def test_store_claim_needs_the_lease_and_the_expected_state(schedule_path: str) -> None:
    store = SQLiteScheduleStore(path=schedule_path)
    state = RunState(T0, 0)
    store.load_states({"x": state})
    ran = RunState(T0, 1)
    assert not store.claim_run("x", expected=state, new=ran, owner="a", now=T0)  # no lease
    assert store.acquire_lease("a", now=T0, ttl=5)
    assert not store.acquire_lease("b", now=T0, ttl=5)
    assert store.claim_run("x", expected=state, new=ran, owner="a", now=T0)
    assert not store.claim_run("x", expected=state, new=ran, owner="a", now=T0)  # stale state
    later = T0.replace(second=6)
    assert not store.claim_run("x", expected=ran, new=RunState(later, 2), owner="a", now=later)
    assert store.acquire_lease("b", now=later, ttl=5)  # expired: b takes it
    store.release_lease("a")  # not a's any more: no effect
    assert not store.acquire_lease("a", now=later, ttl=5)
    store.release_lease("b")
    assert store.acquire_lease("a", now=later, ttl=5)
    store.close()
