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
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from celeriac import _state
from celeriac._internal import sun

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
#: Every valid crontab matches within this many years (Feb 29 on a given weekday).
_SEARCH_YEARS = 400

_WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
#: The longest length of each month (February of leap years).
_DAYS_IN_MONTH = {
    **dict.fromkeys((1, 3, 5, 7, 8, 10, 12), 31),
    **dict.fromkeys((4, 6, 9, 11), 30),
    2: 29,
}


class schedstate(NamedTuple):
    """What :meth:`BaseSchedule.is_due` returns: run now?, and seconds until next check."""

    is_due: bool
    next: float


class ParseException(ValueError):
    """A crontab field cannot be parsed."""


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
            return _first_instant(midnight, tz)
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


class crontab_parser:
    """Expand one crontab field (``'*/15'``, ``'1-5'``, ``'mon-fri'``, ``'0,30'``).

    Args:
        max_: How many values the field has (60 minutes, 24 hours, 7 days ...).
        min_: The first value (1 for days of the month and months).
        names: Names accepted for values (weekdays, months), matched on three letters.
    """

    def __init__(self, max_: int = 60, min_: int = 0, names: Mapping[str, int] | None = None):
        self.max_ = max_
        self.min_ = min_
        self.names = dict(names or {})

    def parse(self, spec: str) -> set[int]:
        """The set of values ``spec`` stands for.

        Raises:
            ParseException: the syntax is wrong.
            ValueError: a value is out of range.
        """
        values: set[int] = set()
        for raw in str(spec).split(","):
            part = raw.strip()
            if not part:
                raise ParseException(f"empty part in {spec!r}")
            values.update(self._parse_part(part))
        return values

    def _parse_part(self, part: str) -> list[int]:
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ParseException(f"bad step in {part!r}: expected a positive number")
            step = int(step_text)
        if body == "*":
            values = list(range(self.min_, self.min_ + self.max_))
        elif "-" in body:
            first_text, _, last_text = body.partition("-")
            first, last = self._number(first_text, part), self._number(last_text, part)
            if last < first:  # a range that wraps around, like 'fri-mon'
                values = [*range(first, self.min_ + self.max_), *range(self.min_, last + 1)]
            else:
                values = list(range(first, last + 1))
        elif slash:
            raise ParseException(f"a step needs '*' or a range before it: {part!r}")
        else:
            values = [self._number(body, part)]
        return values[::step]

    def _number(self, text: str, part: str) -> int:
        text = text.strip()
        if text.isdigit():
            value = int(text)
        elif text[:3].lower() in self.names and text.isalpha():
            value = self.names[text[:3].lower()]
        elif not text:
            raise ParseException(f"missing number in {part!r} (negative numbers are not allowed)")
        else:
            raise ParseException(f"invalid value {text!r} in {part!r}")
        highest = self.min_ + self.max_ - 1
        if not self.min_ <= value <= highest:
            raise ValueError(
                f"Invalid crontab pattern. Valid range is {self.min_}-{highest}. "
                f"'{value}' was found."
            )
        return value


Cronspec = int | str | Iterable[int]


def _expand(spec: Cronspec | None, max_: int, min_: int = 0, names: Any = None) -> frozenset[int]:
    parser = crontab_parser(max_, min_, names)
    if spec is None:
        spec = "*"
    if isinstance(spec, str):
        return frozenset(parser.parse(spec))
    values = [spec] if isinstance(spec, int) else list(spec)
    for value in values:
        if not isinstance(value, int) or not min_ <= value < min_ + max_:
            raise ValueError(
                f"Invalid crontab pattern. Valid range is {min_}-{min_ + max_ - 1}. "
                f"'{value}' was found."
            )
    return frozenset(values)


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
        self.minute = _expand(minute, 60)
        self.hour = _expand(hour, 24)
        self.day_of_week = _expand(day_of_week, 7, names=_WEEKDAYS)
        self.day_of_month = _expand(day_of_month, 31, 1)
        self.month_of_year = _expand(month_of_year, 12, 1, names=_MONTHS)
        if not any(d <= _DAYS_IN_MONTH[m] for m in self.month_of_year for d in self.day_of_month):
            raise ValueError(
                f"Invalid crontab: day_of_month {self._orig_day_of_month!r} never occurs in "
                f"month_of_year {self._orig_month_of_year!r}."
            )
        self._hours = sorted(self.hour)
        self._minutes = sorted(self.minute)
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
            wall = self._next_wall_time(wall)
            for instant in _instants(wall, tz, first_only=not self.follows_elapsed_time):
                if instant > after:
                    return instant

    def _day_matches(self, day: dt.datetime) -> bool:
        return day.day in self.day_of_month and day.isoweekday() % 7 in self.day_of_week

    def _next_wall_time(self, wall: dt.datetime) -> dt.datetime:
        """The first matching wall-clock minute after ``wall`` (naive in, naive out)."""
        t = wall.replace(second=0, microsecond=0) + _MINUTE
        last_year = t.year + _SEARCH_YEARS
        while t.year <= last_year:
            if t.month not in self.month_of_year:
                t = (t.replace(day=1) + dt.timedelta(days=32)).replace(day=1, hour=0, minute=0)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + _DAY
            elif t.hour not in self.hour:
                later = [h for h in self._hours if h > t.hour]
                t = (
                    t.replace(hour=later[0], minute=0)
                    if later
                    else t.replace(hour=0, minute=0) + _DAY
                )
            elif t.minute not in self.minute:
                later = [m for m in self._minutes if m > t.minute]
                t = t.replace(minute=later[0]) if later else t.replace(minute=0) + _HOUR
            else:
                return t
        raise ValueError(f"{self!r} never runs")  # pragma: no cover - rejected at init

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


def _instants(wall: dt.datetime, tz: dt.tzinfo, *, first_only: bool) -> list[dt.datetime]:
    """The UTC instants at which the clock in ``tz`` shows ``wall``.

    Two when clocks go back over it, none when they jump over it. With ``first_only``,
    the first of two, and for a skipped time the first instant after the jump.
    """
    candidates = {wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)}
    shown = sorted(c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == wall)
    if not first_only:
        return shown
    if shown:
        return shown[:1]
    # Skipped: the jump happens between the two readings; find it to the second.
    low, high = int(min(candidates).timestamp()), int(max(candidates).timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        moment = dt.datetime.fromtimestamp(middle, UTC)
        if moment.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return [dt.datetime.fromtimestamp(high, UTC)]


def _first_instant(wall: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return _instants(wall, tz, first_only=True)[0]


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
