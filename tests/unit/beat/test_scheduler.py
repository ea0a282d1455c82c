"""The scheduler's tick, sending, and the loop around it (state in memory, fake clock)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import pytest

from celeriac import Celery
from celeriac.beat import EmbeddedBeat, FakeClock, Scheduler, Service
from celeriac.beat.store import MemoryScheduleStore
from celeriac.exceptions import ImproperlyConfigured
from celeriac.schedules import crontab
from tests.unit.beat.conftest import T0, sent


def make(app: Celery, clock: FakeClock, **options: Any) -> Scheduler:
    return Scheduler(app, clock=clock, **options)


def test_interval_entry_first_runs_one_interval_after_start(app: Celery, clock: FakeClock) -> None:
    app.conf.beat_schedule = {"tick": {"task": "beatapp.tick", "schedule": 10.0}}
    scheduler = make(app, clock)

    assert scheduler.tick() == 10.0
    assert sent(app) == []
    clock.advance(10)
    assert scheduler.tick() == 10.0
    assert [call["task"] for call in sent(app)] == ["beatapp.tick"]
    assert scheduler.schedule["tick"].total_run_count == 1
    assert scheduler.schedule["tick"].last_run_at == T0 + dt.timedelta(seconds=10)


def test_sends_args_kwargs_and_options(app: Celery, clock: FakeClock) -> None:
    app.conf.beat_schedule = {
        "tick": {
            "task": "beatapp.tick",
            "schedule": dt.timedelta(seconds=5),
            "args": (7,),
            "kwargs": {"tag": "x"},
            "options": {"queue": "hipri", "priority": 3, "headers": {"mine": 1}},
        }
    }
    scheduler = make(app, clock)
    scheduler.tick()
    clock.advance(5)
    scheduler.tick()

    [call] = sent(app, "hipri")
    assert call["args"] == [7] and call["kwargs"] == {"tag": "x"}
    assert call["celery_beat_task"] is True and call["mine"] == 1
    assert app.broker.peek("hipri")[0].priority == 3


def test_task_not_registered_here_is_sent_by_name(app: Celery, clock: FakeClock) -> None:
    app.conf.beat_schedule = {"remote": {"task": "elsewhere.job", "schedule": 1, "args": [1, 2]}}
    scheduler = make(app, clock)
    scheduler.tick()
    clock.advance(1)
    scheduler.tick()
    assert [(c["task"], c["args"]) for c in sent(app)] == [("elsewhere.job", [1, 2])]


def test_several_entries_and_the_wait_until_the_next(app: Celery, clock: FakeClock) -> None:
    app.conf.timezone = "Europe/London"
    app.conf.beat_schedule = {
        "fast": {"task": "beatapp.tick", "schedule": 3, "args": [1]},
        "slow": {"task": "beatapp.tick", "schedule": 7, "args": [2]},
        "noon": {"task": "beatapp.tick", "schedule": crontab(minute=5, hour=13), "args": [3]},
    }
    scheduler = make(app, clock, max_interval=60)
    waits = []
    for _ in range(12):
        waits.append(scheduler.tick())
        clock.advance(waits[-1])
    # Ticks at 0, 3, 6, 7, 9, 12, 14, 15, 18, 21, 24 and 27 s: each wait ends at a run.
    assert waits == [3, 3, 1, 2, 3, 2, 1, 3, 3, 3, 3, 1]
    assert [c["args"][0] for c in sent(app)] == [1, 1, 2, 1, 1, 2, 1, 1, 1, 2, 1, 1]
    # 13:05 in London (BST) is 12:05 UTC.
    clock.set(dt.datetime(2024, 5, 1, 12, 5, tzinfo=dt.timezone.utc))
    scheduler.tick()
    assert [c["args"][0] for c in sent(app)].count(3) == 1
    assert max(waits) <= 10  # never past a third of the lease (30 s) or the next run


def test_wait_is_capped_by_max_interval_and_lease(app: Celery, clock: FakeClock) -> None:
    app.conf.beat_schedule = {"rare": {"task": "beatapp.tick", "schedule": 3600}}
    assert make(app, clock, max_interval=4).tick() == 4
    assert make(app, clock, lease_timeout=6).tick() == 2
    app.conf.beat_max_loop_interval = 1.5
    assert make(app, clock).tick() == 1.5


def test_a_failing_send_is_logged_and_others_still_run(
    app: Celery, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app.conf.beat_schedule = {
        "bad": {"task": "beatapp.tick", "schedule": 1, "args": [1, 2, 3]},  # too many args
        "good": {"task": "beatapp.tick", "schedule": 1, "args": [4]},
    }
    scheduler = make(app, clock)
    scheduler.tick()
    clock.advance(1)
    with caplog.at_level(logging.ERROR):
        scheduler.tick()
    assert [c["args"] for c in sent(app)] == [[4]]
    assert "Message Error" in caplog.text
    # The failed run counts as done (as in Celery): it is not retried on every tick.
    assert scheduler.schedule["bad"].total_run_count == 1


def test_entry_whose_next_run_cannot_be_computed_is_skipped(
    app: Celery, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(crontab):
        def next_run_at(self, last_run_at: dt.datetime) -> dt.datetime:
            raise RuntimeError("boom")

    app.conf.beat_schedule = {
        "broken": {"task": "beatapp.tick", "schedule": Broken()},
        "good": {"task": "beatapp.tick", "schedule": 1},
    }
    scheduler = make(app, clock)
    scheduler.tick()
    clock.advance(1)
    with caplog.at_level(logging.ERROR):
        scheduler.tick()
    assert len(sent(app)) == 1
    assert "cannot compute the next run of 'broken'" in caplog.text


def test_bad_beat_schedule_items_are_configuration_errors(app: Celery, clock: FakeClock) -> None:
    app.conf.beat_schedule = {"x": {"task": "beatapp.tick"}}
    with pytest.raises(ImproperlyConfigured, match="needs a task and a schedule"):
        make(app, clock)
    app.conf.beat_schedule = {"x": {"task": "beatapp.tick", "schedule": 1, "when": 2}}
    with pytest.raises(ImproperlyConfigured, match="unknown keys: when"):
        make(app, clock)


def test_celery_schedule_objects_are_refused(app: Celery, clock: FakeClock) -> None:
    from celery.schedules import crontab as celery_crontab  # type: ignore[import-untyped]

    app.conf.beat_schedule = {"x": {"task": "beatapp.tick", "schedule": celery_crontab()}}
    with pytest.raises(ImproperlyConfigured, match=r"'x'.*celeriac.schedules"):
        make(app, clock)


def test_add_and_remove_at_run_time(app: Celery, clock: FakeClock) -> None:
    scheduler = make(app, clock)
    scheduler.add(name="added", task="beatapp.tick", schedule=2, args=(9,))
    scheduler.tick()
    clock.advance(2)
    scheduler.tick()
    assert scheduler.remove("added") is True
    clock.advance(2)
    scheduler.tick()
    assert [c["args"] for c in sent(app)] == [[9]]
    assert scheduler.remove("added") is False
    with pytest.raises(ImproperlyConfigured):
        scheduler.add(name="incomplete", task="beatapp.tick")


def test_relative_entry(app: Celery, clock: FakeClock) -> None:
    clock.set(T0 + dt.timedelta(minutes=7, seconds=13))
    app.conf.beat_schedule = {
        "hourly": {"task": "beatapp.tick", "schedule": dt.timedelta(hours=1), "relative": True}
    }
    scheduler = make(app, clock, max_interval=3600, lease_timeout=10_000)
    assert scheduler.tick() == pytest.approx(3600 - 7 * 60 - 13)


# -- app hooks ----------------------------------------------------------------------------------


def test_add_periodic_task_from_on_after_configure(app: Celery, clock: FakeClock) -> None:
    tick = app.tasks["beatapp.tick"]

    @app.on_after_configure.connect
    def setup(sender: Celery, **kwargs: Any) -> None:
        sender.add_periodic_task(2.0, tick.s(1), name="named")
        sender.add_periodic_task(crontab(minute="*"), tick.s(2), queue="lopri")

    finalized: list[Celery] = []
    app.on_after_finalize.connect(lambda sender, **kw: finalized.append(sender), weak=False)
    run_service(app, clock, ticks=3)

    assert set(app.conf.beat_schedule) == {"named", "beatapp.tick(2)"}
    assert app.conf.beat_schedule["beatapp.tick(2)"]["options"] == {"queue": "lopri"}
    assert finalized == [app]
    assert [c["args"] for c in sent(app)][:1] == [[1]]


def test_unnamed_periodic_tasks_with_the_same_signature_warn(
    app: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    tick = app.tasks["beatapp.tick"]
    assert app.add_periodic_task(10, tick.s(1)) == "beatapp.tick(1)"
    with caplog.at_level(logging.WARNING):
        app.add_periodic_task(20, tick, args=(1,))
    assert "shadowed a previous unnamed periodic task" in caplog.text
    assert app.conf.beat_schedule["beatapp.tick(1)"]["schedule"] == 20


# -- the loop -----------------------------------------------------------------------------------


class StopAfter:
    """A fake clock for :class:`Service` that stops it after ``ticks`` waits."""

    def __init__(self, clock: FakeClock, service: Service | None, ticks: int) -> None:
        self.clock, self.service, self.left = clock, service, ticks
        self.waits: list[float] = []

    def now(self) -> dt.datetime:
        return self.clock.now()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        self.waits.append(timeout)
        self.left -= 1
        if self.left <= 0 and self.service is not None:
            self.service.stop()
        return self.clock.wait(event, timeout)


def run_service(app: Celery, clock: FakeClock, ticks: int) -> StopAfter:
    driver = StopAfter(clock, None, ticks)
    service = Service(app, scheduler_cls=Scheduler, clock=driver)
    driver.service = service
    service.start()
    return driver


def test_service_loop_ticks_until_stopped_and_releases_the_lease(
    app: Celery, clock: FakeClock
) -> None:
    app.conf.beat_schedule = {"tick": {"task": "beatapp.tick", "schedule": 1}}
    driver = StopAfter(clock, None, 5)
    store = MemoryScheduleStore()

    class Shared(Scheduler):
        def make_store(self) -> MemoryScheduleStore:
            return store

    service = Service(app, scheduler_cls=Shared, clock=driver)
    driver.service = service
    service.start()

    assert len(sent(app)) == 4
    assert driver.waits == [1.0] * 5
    assert store.acquire_lease("someone else", now=clock.now(), ttl=1)  # released at stop


def test_embedded_beat_runs_in_a_thread(app: Celery, clock: FakeClock) -> None:
    app.conf.beat_schedule = {"tick": {"task": "beatapp.tick", "schedule": 1}}
    beat = EmbeddedBeat(app, scheduler=Scheduler, clock=clock)
    done = threading.Event()
    original_wait = clock.wait

    def wait(event: threading.Event, timeout: float) -> bool:
        if len(sent(app)) >= 3:
            done.set()
        return original_wait(event, timeout)

    clock.wait = wait  # type: ignore[method-assign]
    beat.start()
    running = beat.is_alive
    assert done.wait(10)
    beat.stop()
    assert (running, beat.is_alive) == (True, False)
    assert len(sent(app)) >= 3
    with pytest.raises(RuntimeError):
        beat.start()
