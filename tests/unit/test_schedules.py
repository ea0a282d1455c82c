"""celeriac.schedules: intervals, crontabs and solar events, with an injected clock.

Crontab results are checked against real Celery where Celery's rules are clear (UTC,
and local times away from daylight-saving changes); across DST changes they are checked
against the rules in the module docstring.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import celery  # type: ignore[import-untyped]
import pytest
from celery.schedules import crontab as celery_crontab  # type: ignore[import-untyped]
from celery.schedules import crontab_parser as celery_crontab_parser

from celeriac import Celery
from celeriac.schedules import (
    BaseSchedule,
    ParseException,
    crontab,
    crontab_parser,
    maybe_schedule,
    schedstate,
    schedule,
    solar,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)


def make_app(timezone: str | None = None) -> Celery:
    app = Celery("sched", broker="memory://", set_as_current=False)
    if timezone:
        app.conf.timezone = timezone
    return app


def runs(
    sched: BaseSchedule, start: dt.datetime, end: dt.datetime, delay: float = 0.2
) -> list[dt.datetime]:
    """Drive ``is_due`` the way beat does, on a fake clock; the instants runs were sent.

    Each run is sent ``delay`` seconds after the clock says it is due (beat is never on
    time to the microsecond), and recorded as the entry's ``last_run_at``.
    """
    now, last, sent = start, start, []
    while now < end:
        state = sched.is_due(last, now=now)
        if state.is_due:
            sent.append(now)
            last = now
        assert state.next > 0
        now += dt.timedelta(seconds=state.next + delay)
    return sent


# -- schedule (intervals) ---------------------------------------------------------------------


def test_interval_not_due_before_it_elapses() -> None:
    assert schedule(10).is_due(T0, now=T0 + 4 * SECOND) == schedstate(False, 6.0)


def test_interval_due_then_next_is_the_whole_interval() -> None:
    every = schedule(dt.timedelta(seconds=10))
    assert every.is_due(T0, now=T0 + 10 * SECOND) == schedstate(True, 10.0)
    # Long overdue: one run now (not one per missed interval), then a full interval.
    assert every.is_due(T0, now=T0 + 95 * SECOND) == schedstate(True, 10.0)


def test_interval_remaining_estimate_and_next_run() -> None:
    every = schedule(30)
    assert every.remaining_estimate(T0, now=T0 + 10 * SECOND) == dt.timedelta(seconds=20)
    assert every.next_run_at(T0) == T0 + 30 * SECOND


def test_interval_reads_naive_datetimes_as_utc() -> None:
    naive = T0.replace(tzinfo=None)
    assert schedule(5).is_due(naive, now=naive + 5 * SECOND) == schedstate(True, 5.0)


def test_interval_uses_nowfun_when_no_now_is_given() -> None:
    every = schedule(60, nowfun=lambda: T0 + 61 * SECOND)
    assert every.is_due(T0).is_due
    assert every.now() == T0 + 61 * SECOND


def test_interval_repr_equality_and_seconds() -> None:
    assert repr(schedule(10)) == "<freq: 10.00 seconds>"
    assert repr(schedule(300)) == "<freq: 5.00 minutes>"
    assert repr(schedule(3600)) == "<freq: 1.00 hour>"
    assert schedule(10) == schedule(dt.timedelta(seconds=10))
    assert schedule(10) != schedule(11)
    assert schedule(90).seconds == 90.0
    assert schedule(90).human_seconds == "1.50 minutes"


def test_relative_hourly_runs_on_the_hour() -> None:
    hourly = schedule(dt.timedelta(hours=1), relative=True, app=make_app())
    last = dt.datetime(2024, 5, 1, 10, 17, 42, tzinfo=UTC)
    assert hourly.next_run_at(last) == dt.datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


def test_relative_rounds_on_the_local_clock() -> None:
    # India is UTC+05:30: "on the hour" there is half past in UTC.
    hourly = schedule(dt.timedelta(hours=1), relative=True, app=make_app("Asia/Kolkata"))
    last = dt.datetime(2024, 5, 1, 10, 40, tzinfo=UTC)  # 16:10 in Kolkata
    assert hourly.next_run_at(last) == dt.datetime(2024, 5, 1, 11, 30, tzinfo=UTC)  # 17:00


def test_relative_daily_runs_at_local_midnight() -> None:
    daily = schedule(dt.timedelta(days=1), relative=True, app=make_app("America/New_York"))
    last = dt.datetime(2024, 5, 1, 18, 0, tzinfo=UTC)  # 14:00 EDT on May 1st
    assert daily.next_run_at(last) == dt.datetime(2024, 5, 2, 4, 0, tzinfo=UTC)  # May 2nd 00:00


def test_relative_minutes() -> None:
    every = schedule(dt.timedelta(minutes=5), relative=True, app=make_app())
    last = dt.datetime(2024, 5, 1, 10, 17, 42, tzinfo=UTC)
    assert every.next_run_at(last) == dt.datetime(2024, 5, 1, 10, 22, tzinfo=UTC)


def test_maybe_schedule() -> None:
    app = make_app()
    assert maybe_schedule(None) is None
    assert maybe_schedule(10) == schedule(10)
    assert maybe_schedule(dt.timedelta(minutes=1)) == schedule(60)
    cron = crontab()
    assert maybe_schedule(cron, app=app) is cron
    assert cron.app is app


# -- crontab_parser ---------------------------------------------------------------------------

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
PARSER_CASES = [
    (60, 0, "*"),
    (60, 0, "*/15"),
    (60, 0, "1,13,30-45,50-59/2"),
    (60, 0, "5"),
    (24, 0, "*/3"),
    (24, 0, "0,8-17/2"),
    (7, 0, "*"),
    (7, 0, "mon-fri"),
    (7, 0, "fri-mon"),
    (7, 0, "sun,wed"),
    (7, 0, "monday"),
    (31, 1, "*/3"),
    (31, 1, "1-7,15-21"),
    (31, 1, "2-30/2"),
    (12, 1, "*/2"),
    (12, 1, "2-12/2"),
    (12, 1, "jan,jul"),
    (12, 1, "nov-feb"),
]


@pytest.mark.parametrize(("max_", "min_", "spec"), PARSER_CASES)
def test_parser_expands_like_celery(max_: int, min_: int, spec: str) -> None:
    names: dict[str, int] = {}
    if max_ == 7:
        names = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
    elif max_ == 12:
        names = {name: i + 1 for i, name in enumerate(MONTHS)}
    expected = set(celery_crontab_parser(max_, min_).parse(spec))
    assert crontab_parser(max_, min_, names).parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "1,,2", "5/15", "*/", "*/0", "-5", "x", "1-", "*/a"])
def test_parser_rejects_bad_syntax(spec: str) -> None:
    with pytest.raises(ParseException):
        crontab_parser(60).parse(spec)


@pytest.mark.parametrize(("max_", "min_", "spec"), [(60, 0, "60"), (24, 0, "0-24"), (31, 1, "0")])
def test_parser_rejects_out_of_range(max_: int, min_: int, spec: str) -> None:
    with pytest.raises(ValueError, match="Invalid crontab pattern"):
        crontab_parser(max_, min_).parse(spec)


def test_names_belong_to_their_field() -> None:
    with pytest.raises(ValueError):
        crontab(day_of_week="jan")
    with pytest.raises(ValueError):
        crontab(month_of_year="mon")


# -- crontab ----------------------------------------------------------------------------------


def test_crontab_fields_accept_ints_iterables_and_strings() -> None:
    cron = crontab(minute=[0, 30], hour=range(9, 12), day_of_week="mon-fri")
    assert cron.minute == {0, 30}
    assert cron.hour == {9, 10, 11}
    assert cron.day_of_week == {1, 2, 3, 4, 5}
    assert crontab(minute=5).minute == {5}


@pytest.mark.parametrize(
    "fields",
    [{"minute": 60}, {"hour": [24]}, {"day_of_month": 0}, {"day_of_month": 30, "month_of_year": 2}],
)
def test_crontab_rejects_impossible_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        crontab(**fields)


def test_crontab_repr_and_equality() -> None:
    cron = crontab(minute="*/15", hour=9, day_of_week="mon-fri")
    assert repr(cron) == "<crontab: */15 9 * * mon-fri (m/h/dM/MY/d)>"
    assert cron == crontab(minute="0,15,30,45", hour="9", day_of_week="1-5")
    assert cron != crontab(minute="*/15")


def test_crontab_from_string() -> None:
    cron = crontab.from_string("*/5 9-17 1 jan,jul mon")
    assert cron == crontab(
        minute="*/5", hour="9-17", day_of_month=1, month_of_year="jan,jul", day_of_week="mon"
    )
    with pytest.raises(ParseException):
        crontab.from_string("* * *")


Form = tuple[str, str, str, str, str]
CRONTAB_FORMS: list[Form] = [
    ("*/15", "*", "*", "*", "*"),
    ("0", "9-17/2", "mon-fri", "*", "*"),
    ("30", "2", "*", "*", "*"),
    ("0", "0", "*", "1", "*"),
    ("0", "0", "sun", "*", "jan,jul"),
    ("5,35", "*/3", "*", "*/3", "*"),
    ("0", "0", "mon", "1-7", "*"),
    ("0", "12", "*", "29", "2"),
    ("59", "23", "sat", "31", "*"),
    ("*", "*", "fri-mon", "*", "*"),
]


def _random_instants(count: int) -> Iterator[dt.datetime]:
    rng = random.Random(11)
    for _ in range(count):
        yield T0 + dt.timedelta(seconds=rng.randrange(-2 * 365 * 86400, 2 * 365 * 86400))


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata"])
@pytest.mark.parametrize("form", CRONTAB_FORMS, ids=" ".join)
def test_crontab_next_run_matches_celery(timezone: str, form: Form) -> None:
    tz = ZoneInfo(timezone)
    peer = celery.Celery(set_as_current=False)
    peer.conf.timezone = timezone
    ours = crontab(*form, app=make_app(timezone))
    for last in _random_instants(40):
        found = ours.next_run_at(last)
        if last.astimezone(tz).utcoffset() != found.astimezone(tz).utcoffset():
            continue  # a DST change in between: see the DST tests below
        now = last + SECOND
        theirs = celery_crontab(*form, app=peer, nowfun=lambda now=now: now.astimezone(tz))
        assert found == now + theirs.remaining_estimate(last.astimezone(tz)), last


def test_crontab_day_of_week_and_day_of_month_must_both_match() -> None:
    first_monday = crontab(minute=0, hour=0, day_of_week="mon", day_of_month="1-7", app=make_app())
    assert first_monday.next_run_at(T0) == dt.datetime(2024, 5, 6, tzinfo=UTC)
    assert first_monday.next_run_at(dt.datetime(2024, 5, 6, tzinfo=UTC)) == dt.datetime(
        2024, 6, 3, tzinfo=UTC
    )


def test_crontab_leap_day() -> None:
    leap = crontab(minute=0, hour=0, day_of_month=29, month_of_year=2, app=make_app())
    assert leap.next_run_at(T0) == dt.datetime(2028, 2, 29, tzinfo=UTC)


def test_crontab_is_due_shape() -> None:
    quarter = crontab(minute="*/15", app=make_app())
    last = dt.datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
    assert quarter.is_due(last, now=last + 60 * SECOND) == schedstate(False, 810.0)
    due_at = dt.datetime(2024, 5, 1, 12, 15, 2, tzinfo=UTC)
    assert quarter.is_due(last, now=due_at) == schedstate(True, 898.0)
    assert quarter.remaining_estimate(last, now=last) == dt.timedelta(seconds=870)


def test_crontab_in_the_app_timezone() -> None:
    nine = crontab(minute=0, hour=9, app=make_app("Asia/Tokyo"))
    assert nine.next_run_at(T0) == dt.datetime(2024, 5, 2, 0, 0, tzinfo=UTC)  # 09:00 JST


def test_crontab_uses_the_current_app_when_unbound() -> None:
    app = make_app("Asia/Tokyo")
    app.set_current()
    assert crontab(minute=0, hour=9).next_run_at(T0) == dt.datetime(2024, 5, 2, tzinfo=UTC)


# -- daylight saving time ---------------------------------------------------------------------

#: zone, spring-forward day, fall-back day, a wall time skipped in spring, one repeated in fall
DST_ZONES = [
    ("America/New_York", dt.date(2024, 3, 10), dt.date(2024, 11, 3), (2, 30), (1, 30)),
    ("Europe/London", dt.date(2024, 3, 31), dt.date(2024, 10, 27), (1, 30), (1, 30)),
]


def _local_days(instants: list[dt.datetime], tz: ZoneInfo) -> list[dt.date]:
    return [moment.astimezone(tz).date() for moment in instants]


def _around(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day - dt.timedelta(days=2), dt.time(), tz)
    return start.astimezone(UTC), (start + dt.timedelta(days=5)).astimezone(UTC)


@pytest.mark.parametrize(("zone", "spring", "fall", "skipped", "repeated"), DST_ZONES)
def test_daily_job_in_the_skipped_hour_runs_once_after_the_jump(
    zone: str, spring: dt.date, fall: dt.date, skipped: tuple[int, int], repeated: Any
) -> None:
    tz = ZoneInfo(zone)
    daily = crontab(hour=skipped[0], minute=skipped[1], app=make_app(zone))
    sent = runs(daily, *_around(spring, tz))
    days = _local_days(sent, tz)
    assert days == sorted(set(days)) and len(days) == 5  # once a day, every day
    that_day = [moment.astimezone(tz) for moment in sent if moment.astimezone(tz).date() == spring]
    # The first valid instant after the skipped wall time: the moment clocks jumped.
    assert (that_day[0].hour, that_day[0].minute) == (skipped[0] + 1, 0)


@pytest.mark.parametrize(("zone", "spring", "fall", "skipped", "repeated"), DST_ZONES)
def test_daily_job_in_the_repeated_hour_runs_once(
    zone: str, spring: dt.date, fall: dt.date, skipped: Any, repeated: tuple[int, int]
) -> None:
    tz = ZoneInfo(zone)
    daily = crontab(hour=repeated[0], minute=repeated[1], app=make_app(zone))
    sent = runs(daily, *_around(fall, tz))
    days = _local_days(sent, tz)
    assert days == sorted(set(days)) and len(days) == 5
    that_day = [moment.astimezone(tz) for moment in sent if moment.astimezone(tz).date() == fall]
    assert that_day[0].fold == 0  # the first of the two 01:30s
    assert (that_day[0].hour, that_day[0].minute) == repeated


@pytest.mark.parametrize(("zone", "spring", "fall", "skipped", "repeated"), DST_ZONES)
@pytest.mark.parametrize("season", ["spring", "fall"])
def test_every_quarter_hour_keeps_elapsed_time_across_dst(
    zone: str, spring: dt.date, fall: dt.date, skipped: Any, repeated: Any, season: str
) -> None:
    tz = ZoneInfo(zone)
    day = spring if season == "spring" else fall
    quarter = crontab(minute="*/15", app=make_app(zone))
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(UTC)
    sent = runs(quarter, start, start + dt.timedelta(hours=6))
    gaps = {round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(sent)}
    assert gaps == {15}
    assert len(sent) == 6 * 4 - 1  # from 00:15 on; the one at 06:00 is sent after the end


@pytest.mark.parametrize(("zone", "spring", "fall", "skipped", "repeated"), DST_ZONES)
def test_hourly_job_follows_elapsed_time_in_spring(
    zone: str, spring: dt.date, fall: dt.date, skipped: Any, repeated: Any
) -> None:
    tz = ZoneInfo(zone)
    hourly = crontab(minute=30, app=make_app(zone))
    start = dt.datetime.combine(spring, dt.time(), tz).astimezone(UTC)
    sent = runs(hourly, start, start + dt.timedelta(hours=6))
    gaps = {round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(sent)}
    assert gaps == {60}
    assert all(moment.astimezone(tz).minute == 30 for moment in sent)


def test_fixed_hour_job_started_inside_the_repeated_hour_waits_for_tomorrow() -> None:
    tz = ZoneInfo("America/New_York")
    daily = crontab(hour=1, minute=30, app=make_app("America/New_York"))
    # 01:10 EST, the second pass through 01:xx: 01:30 already happened today (EDT).
    last = dt.datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=tz)
    assert daily.next_run_at(last) == dt.datetime(2024, 11, 4, 1, 30, tzinfo=tz)


# -- solar ------------------------------------------------------------------------------------

#: Reference times from the ``ephem`` library Celery's solar schedule uses.
SOLAR_CASES = [
    ("sunrise", 51.5074, -0.1278, "2024-06-20T12:00:00", "2024-06-21T03:43:14"),
    ("sunset", 40.7128, -74.0060, "2024-12-21T12:00:00", "2024-12-21T21:32:03"),
    ("dawn_civil", -33.8688, 151.2093, "2024-03-01T00:00:00", "2024-03-01T19:18:29"),
    ("solar_noon", 35.6762, 139.6503, "2024-09-01T00:00:00", "2024-09-01T02:41:21"),
    ("dusk_astronomical", 48.8566, 2.3522, "2024-01-15T00:00:00", "2024-01-15T18:13:59"),
    ("dawn_nautical", -54.8019, -68.3030, "2024-07-01T00:00:00", "2024-07-01T11:26:00"),
    # Polar night in Tromso: the sun next rises in mid-January.
    ("sunrise", 69.6492, 18.9553, "2024-12-01T00:00:00", "2025-01-15T10:24:29"),
    # White nights in Reykjavik: no nautical dusk until mid-August.
    ("dusk_nautical", 64.1466, -21.9426, "2024-06-01T00:00:00", "2024-08-16T01:01:05"),
]


@pytest.mark.parametrize(("event", "lat", "lon", "after", "expected"), SOLAR_CASES)
def test_solar_events_within_a_minute_of_ephem(
    event: str, lat: float, lon: float, after: str, expected: str
) -> None:
    sched = solar(event, lat, lon, app=make_app())
    found = sched.next_run_at(dt.datetime.fromisoformat(after).replace(tzinfo=UTC))
    reference = dt.datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert abs((found - reference).total_seconds()) < 60


def test_solar_is_due_after_the_event() -> None:
    sunrise = solar("sunrise", 51.5074, -0.1278, app=make_app())
    last = dt.datetime(2024, 6, 20, 12, tzinfo=UTC)
    before = sunrise.is_due(last, now=dt.datetime(2024, 6, 21, 3, 0, tzinfo=UTC))
    assert not before.is_due and 40 * 60 < before.next < 46 * 60
    after = sunrise.is_due(last, now=dt.datetime(2024, 6, 21, 4, 0, tzinfo=UTC))
    assert after.is_due and 23 * 3600 < after.next < 24 * 3600


def test_solar_validation_and_repr() -> None:
    with pytest.raises(ValueError, match="invalid"):
        solar("moonrise", 0, 0)
    with pytest.raises(ValueError, match="latitude"):
        solar("sunrise", 91, 0)
    with pytest.raises(ValueError, match="longitude"):
        solar("sunrise", 0, -181)
    assert repr(solar("sunset", 10, 20)) == "<solar: sunset at latitude 10, longitude: 20>"
    assert solar("sunset", 10, 20) == solar("sunset", 10, 20)
