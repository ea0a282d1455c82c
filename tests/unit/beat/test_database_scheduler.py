"""DatabaseScheduler: entries live in the store and change while beat runs."""

from __future__ import annotations

import datetime as dt

import pytest

from celeriac import Celery
from celeriac.beat import DatabaseScheduler, FakeClock
from celeriac.beat.entry import ScheduleEntry, definition_to_entry, entry_to_definition
from celeriac.exceptions import ImproperlyConfigured
from celeriac.schedules import crontab, schedule, solar
from tests.unit.beat.conftest import sent


def start(app: Celery, clock: FakeClock, path: str) -> DatabaseScheduler:
    return DatabaseScheduler(app, schedule_filename=path, clock=clock)


def args_sent(app: Celery) -> list[int]:
    return [call["args"][0] for call in sent(app)]


def test_checks_for_changes_every_five_seconds_by_default(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    assert start(app, clock, schedule_path).tick() == 5.0


def test_entries_added_changed_and_removed_from_another_process(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    running = start(app, clock, schedule_path)
    running.tick()
    editor = DatabaseScheduler(app, schedule_filename=schedule_path, lazy=True)

    editor.add(name="job", task="beatapp.tick", schedule=2, args=[1])
    running.tick()  # sees the new entry, first seen now
    clock.advance(2)
    running.tick()
    assert args_sent(app) == [1]

    editor.add(name="job", task="beatapp.tick", schedule=crontab(minute="*"), args=[2])
    clock.advance(1)
    running.tick()
    assert running.schedule["job"].schedule == crontab(minute="*")
    assert running.schedule["job"].total_run_count == 1  # state kept across the change
    clock.set(dt.datetime(2024, 5, 1, 12, 1, 0, 500_000, tzinfo=dt.timezone.utc))
    running.tick()
    assert args_sent(app) == [1, 2]

    assert editor.remove("job") is True
    clock.advance(60)
    running.tick()
    assert args_sent(app) == [1, 2]
    assert "job" not in running.schedule
    editor.close()
    running.close()


def test_config_entries_are_written_and_runtime_ones_kept_across_restarts(
    app: Celery, clock: FakeClock, schedule_path: str
) -> None:
    app.conf.beat_schedule = {"from-config": {"task": "beatapp.tick", "schedule": 10}}
    first = start(app, clock, schedule_path)
    first.add(name="from-api", task="beatapp.tick", schedule=20)
    first.close()

    app.conf.beat_schedule = {"renamed": {"task": "beatapp.tick", "schedule": 10}}
    second = start(app, clock, schedule_path)
    assert set(second.schedule) == {"renamed", "from-api"}
    second.close()


def test_configured_entries_must_be_json(app: Celery, clock: FakeClock, schedule_path: str) -> None:
    app.conf.beat_schedule = {"x": {"task": "beatapp.tick", "schedule": 1, "args": [object()]}}
    with pytest.raises(ImproperlyConfigured, match="must be JSON"):
        start(app, clock, schedule_path)


def test_malformed_stored_entries_are_skipped(
    app: Celery, clock: FakeClock, schedule_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = start(app, clock, schedule_path)
    scheduler.store.save_definition("bad", {"task": "t", "schedule": {"type": "?"}}, source="x")
    scheduler.tick()
    assert "bad" not in scheduler.schedule
    assert "skipping stored entry 'bad'" in caplog.text
    scheduler.close()


@pytest.mark.parametrize(
    "sched",
    [
        schedule(12.5),
        schedule(dt.timedelta(hours=1), relative=True),
        crontab(minute="*/15", hour=[9, 17], day_of_week="mon-fri"),
        solar("sunset", 48.85, 2.35),
    ],
    ids=repr,
)
def test_definitions_round_trip(app: Celery, sched: object) -> None:
    entry = ScheduleEntry(
        name="e",
        task="beatapp.tick",
        schedule=sched,  # type: ignore[arg-type]
        args=(1,),
        kwargs={"tag": "t"},
        options={"queue": "q"},
        app=app,
    )
    again = definition_to_entry("e", entry_to_definition(entry), app)
    assert again == entry
    assert again.schedule == sched


def test_only_celeriac_schedules_can_be_stored(app: Celery) -> None:
    entry = ScheduleEntry(name="e", task="t", schedule=crontab(), app=app)
    entry.schedule = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="cannot store"):
        entry_to_definition(entry)
    with pytest.raises(ValueError, match="malformed"):
        definition_to_entry("e", {"schedule": {"type": "interval", "every": 1}}, app)
