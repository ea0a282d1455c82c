"""When periodic tasks run: :class:`schedule` (an interval), :class:`crontab`, :class:`solar`.

Every schedule answers two questions about an entry that last ran at ``last_run_at``:
:meth:`~BaseSchedule.next_run_at` (the instant of the next run, aware, UTC) and
:meth:`~BaseSchedule.is_due`, Celery's ``schedstate(is_due, next)`` where ``next`` is
the number of seconds until the schedule should be checked again. Both take an optional
``now`` so callers (beat, tests) inject the clock; without it the schedule asks
``nowfun`` or its app.

Naive datetimes are read as UTC. Intervals count elapsed time. A crontab is read on the
wall clock of the app's ``timezone``, and daylight-saving changes are handled so that
nothing runs twice or never:

* A crontab with fixed hours (``hour=2, minute=30``) runs once per matching wall-clock
  time. A time skipped when clocks go forward runs at the first instant after the jump
  (02:30 on a spring-forward night runs at 03:00); a time that happens twice when clocks
  go back runs the first time only.
* A crontab that runs every hour (``hour='*'``, e.g. ``minute='*/15'``) follows elapsed
  time instead: it runs in the repeated hour too, and nothing piles up at the jump.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from celeriac import _state
from celeriac._internal import sun
from celeriac._internal.cron import (
    MONTHS,
    WEEKDAYS,
    CronFields,
    Cronspec,
    ParseException,
    crontab_parser,
    expand,
    next_wall_time,
    wall_instants,
)

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "BaseSchedule",
    "ParseException",
    "crontab",
    "crontab_parser",
    "maybe_schedule",
    "schedstate",
    "schedule",
    "solar",
]

UTC = dt.timezone.utc
_MINUTE = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)


class schedstate(NamedTuple):
    """What :meth:`BaseSchedule.is_due` returns: run now?, and seconds until next check."""

    is_due: bool
    next: float


def humanize_seconds(seconds: float) -> str:
    """``300`` -> ``'5.00 minutes'``, as Celery prints intervals."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.2f} {unit}{'' if value == 1 else 's'}"
    return "now"


def _aware(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware datetime (naive ones are UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class BaseSchedule:
    """The base of every schedule.

    Args:
        nowfun: Returns the current time (the app's clock when unset).
        app: The app whose ``timezone`` the schedule follows (the current app when unset).
    """

    def __init__(
        self, nowfun: Callable[[], dt.datetime] | None = None, app: Celery | None = None
    ) -> None:
        self.nowfun = nowfun
        self._app = app

    @property
    def app(self) -> Celery:
        """The app this schedule belongs to."""
        return self._app or _state.get_current_app()

    @app.setter
    def app(self, app: Celery | None) -> None:
        self._app = app

    @property
    def tz(self) -> dt.tzinfo:
        """The time zone wall-clock schedules are read in (the app's ``timezone``)."""
        return self.app.timezone

    def now(self) -> dt.datetime:
        """The current time, aware."""
        return _aware((self.nowfun or self.app.now)())

    def next_run_at(self, last_run_at: dt.datetime) -> dt.datetime:
        """The instant of the first run after ``last_run_at``, aware, in UTC."""
        raise NotImplementedError

    def remaining_estimate(
        self, last_run_at: dt.datetime, now: dt.datetime | None = None
    ) -> dt.timedelta:
        """Time left until the run after ``last_run_at`` (negative when overdue)."""
        now = _aware(now) if now is not None else self.now()
        return self.next_run_at(_aware(last_run_at)) - now

    def is_due(self, last_run_at: dt.datetime, now: dt.datetime | None = None) -> schedstate:
        """Whether a run is due now, and the seconds until the schedule needs checking.

        When a run is due, ``next`` counts to the run after this one.
        """
        now = _aware(now) if now is not None else self.now()
        remaining = (self.next_run_at(_aware(last_run_at)) - now).total_seconds()
        if remaining > 0:
            return schedstate(is_due=False, next=remaining)
        return schedstate(is_due=True, next=max((self.next_run_at(now) - now).total_seconds(), 0))


class schedule(BaseSchedule):
    """Run every ``run_every`` (seconds or a timedelta).

    Args:
        run_every: The interval.
        relative: Round each run down to the interval's unit on the clock (days, hours or
            minutes), so an hourly schedule runs on the hour.
        nowfun: Returns the current time.
        app: The app (its ``timezone`` is used to round ``relative`` schedules).
    """

    def __init__(
        self,
        run_every: float | dt.timedelta | None = None,
        relative: bool = False,
        nowfun: Callable[[], dt.datetime] | None = None,
        app: Celery | None = None,
    ) -> None:
        if isinstance(run_every, dt.timedelta):
            self.run_every = run_every
        else:
            self.run_every = dt.timedelta(seconds=run_every or 0)
        self.relative = relative
        super().__init__(nowfun=nowfun, app=app)

    @property
    def seconds(self) -> float:
        """The interval in seconds."""
        return max(self.run_every.total_seconds(), 0.0)

    @property
    def human_seconds(self) -> str:
        """The interval in words (``'10.00 seconds'``)."""
        return humanize_seconds(self.seconds)

    def next_run_at(self, last_run_at: dt.datetime) -> dt.datetime:
        """``last_run_at`` plus the interval (rounded down on the clock if relative)."""
        last = _aware(last_run_at).astimezone(UTC)
        end = last + self.run_every
        if not self.relative or self.run_every < _MINUTE:
            return end
        tz = self.tz
        if self.run_every >= _DAY:
            # Calendar days on the wall clock: midnight of the day the interval ends on.
            local = last.astimezone(tz)
            day = (local.replace(tzinfo=None) + self.run_every).date()
            midnight = dt.datetime.combine(day, dt.time())
            return wall_instants(midnight, tz, first_only=True)[0]
        local_end = end.astimezone(tz)
        if self.run_every >= _HOUR:
            rounded = local_end.replace(minute=0, second=0, microsecond=0)
        else:
            rounded = local_end.replace(second=0, microsecond=0)
        rounded_utc = rounded.astimezone(UTC)
        return rounded_utc if rounded_utc > last else end

    def __repr__(self) -> str:
        return f"<freq: {self.human_seconds}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, schedule):
            return self.run_every == other.run_every and self.relative == other.relative
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.run_every, self.relative))


class crontab(BaseSchedule):
    """Run at the wall-clock times that match all five fields, in the app's ``timezone``.

    Each field is an int, an iterable of ints, or a string in crontab syntax: ``'*'``,
    ``'*/15'``, ``'8-17'``, ``'8-17/2'``, ``'0,30'``; weekdays (Sunday is 0) and months
    may be named (``'mon-fri'``, ``'jan,jul'``). A day must match both ``day_of_week``
    and ``day_of_month`` (as in Celery, not cron's "either").

    Raises:
        ValueError: a field is invalid, or ``day_of_month`` never occurs in
            ``month_of_year`` (the 30th of February).
    """

    def __init__(
        self,
        minute: Cronspec = "*",
        hour: Cronspec = "*",
        day_of_week: Cronspec = "*",
        day_of_month: Cronspec = "*",
        month_of_year: Cronspec = "*",
        nowfun: Callable[[], dt.datetime] | None = None,
        app: Celery | None = None,
    ) -> None:
        self._orig_minute = "*" if minute is None else minute
        self._orig_hour = "*" if hour is None else hour
        self._orig_day_of_week = "*" if day_of_week is None else day_of_week
        self._orig_day_of_month = "*" if day_of_month is None else day_of_month
        self._orig_month_of_year = "*" if month_of_year is None else month_of_year
        self.minute = expand(minute, 60)
        self.hour = expand(hour, 24)
        self.day_of_week = expand(day_of_week, 7, names=WEEKDAYS)
        self.day_of_month = expand(day_of_month, 31, 1)
        self.month_of_year = expand(month_of_year, 12, 1, names=MONTHS)
        self._cron = CronFields(*self._fields)
        if not self._cron.can_match():
            raise ValueError(
                f"Invalid crontab: day_of_month {self._orig_day_of_month!r} never occurs in "
                f"month_of_year {self._orig_month_of_year!r}."
            )
        super().__init__(nowfun=nowfun, app=app)

    @classmethod
    def from_string(cls, spec: str) -> crontab:
        """From a crontab line: ``'minute hour day_of_month month_of_year day_of_week'``."""
        fields = spec.split()
        if len(fields) != 5:
            raise ParseException(f"expected 5 crontab fields, got {len(fields)}: {spec!r}")
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    @property
    def follows_elapsed_time(self) -> bool:
        """Runs every hour, so daylight-saving changes follow elapsed time (see module doc)."""
        return len(self.hour) == 24

    def next_run_at(self, last_run_at: dt.datetime) -> dt.datetime:
        """The first matching instant after ``last_run_at`` (see the module doc for DST)."""
        tz = self.tz
        after = _aware(last_run_at).astimezone(UTC)
        local = after.astimezone(tz)
        wall = local.replace(tzinfo=None)
        found = self._search(wall, after, tz)
        if self.follows_elapsed_time:
            repeated = local.utcoffset() - local.replace(fold=1).utcoffset()  # type: ignore[operator]
            if local.fold == 0 and repeated > dt.timedelta(0):
                # Clocks will go back over ``wall``: its repeated hour can hold the next run.
                found = min(found, self._search(wall - repeated, after, tz))
        return found

    def _search(self, wall: dt.datetime, after: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
        while True:
            wall = next_wall_time(self._cron, wall)
            for instant in wall_instants(wall, tz, first_only=not self.follows_elapsed_time):
                if instant > after:
                    return instant

    def __repr__(self) -> str:
        return (
            f"<crontab: {self._orig_minute} {self._orig_hour} {self._orig_day_of_month} "
            f"{self._orig_month_of_year} {self._orig_day_of_week} (m/h/dM/MY/d)>"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, crontab):
            return self._fields == other._fields
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields)

    @property
    def _fields(self) -> tuple[frozenset[int], ...]:
        return (self.minute, self.hour, self.day_of_week, self.day_of_month, self.month_of_year)


class solar(BaseSchedule):
    """Run at a solar event at a place: sunrise, sunset, dawn, dusk, solar noon.

    Times come from NOAA's solar position equations (accurate to about a minute between
    the polar circles). On days the event does not happen (polar day or night) it is
    skipped.

    Args:
        event: ``sunrise``, ``sunset``, ``solar_noon``, ``dawn_civil``, ``dawn_nautical``,
            ``dawn_astronomical``, ``dusk_civil``, ``dusk_nautical``, ``dusk_astronomical``.
        lat: Latitude in degrees, north positive.
        lon: Longitude in degrees, east positive.

    Raises:
        ValueError: unknown event, or a coordinate out of range.
    """

    def __init__(
        self,
        event: str,
        lat: float,
        lon: float,
        nowfun: Callable[[], dt.datetime] | None = None,
        app: Celery | None = None,
    ) -> None:
        if event not in sun.EVENTS:
            raise ValueError(
                f'Argument event "{event}" is invalid, must be one of '
                f"{', '.join(sorted(sun.EVENTS))}."
            )
        if not -90 <= lat <= 90:
            raise ValueError(f"Argument latitude {lat} is invalid, must be between -90 and 90.")
        if not -180 <= lon <= 180:
            raise ValueError(f"Argument longitude {lon} is invalid, must be between -180 and 180.")
        self.event = event
        self.lat = lat
        self.lon = lon
        super().__init__(nowfun=nowfun, app=app)

    def next_run_at(self, last_run_at: dt.datetime) -> dt.datetime:
        """The first occurrence of the event after ``last_run_at`` (within a year)."""
        after = _aware(last_run_at).astimezone(UTC)
        day = after.date() - _DAY
        for _ in range(sun.MAX_SEARCH_DAYS):
            moment = sun.event_time(self.event, day, self.lat, self.lon)
            if moment is not None and moment > after:
                return moment
            day += _DAY
        return after + _DAY  # no such event for a year: check again tomorrow

    def __repr__(self) -> str:
        return f"<solar: {self.event} at latitude {self.lat}, longitude: {self.lon}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, solar):
            return (self.event, self.lat, self.lon) == (other.event, other.lat, other.lon)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.event, self.lat, self.lon))


def maybe_schedule(
    s: float | dt.timedelta | BaseSchedule | None, relative: bool = False, app: Celery | None = None
) -> BaseSchedule | None:
    """A schedule from seconds, a timedelta, or a schedule (bound to ``app`` if given)."""
    if s is None:
        return None
    if isinstance(s, int | float | dt.timedelta):
        return schedule(s, relative, app=app)
    if app is not None:
        s.app = app
    return s
