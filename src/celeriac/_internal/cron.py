"""Crontab arithmetic: fields, the next matching wall-clock minute, and its UTC instants.

Parsing follows Celery's syntax; the mapping of wall-clock times to instants handles
daylight-saving changes. :class:`celeriac.schedules.crontab` is the public face, and the
rules it follows are in the docstring of :mod:`celeriac.schedules`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MONTHS",
    "WEEKDAYS",
    "CronFields",
    "Cronspec",
    "ParseException",
    "crontab_parser",
    "expand",
    "next_wall_time",
    "wall_instants",
]

UTC = dt.timezone.utc
_MINUTE = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)
#: Every valid crontab matches within this many years (Feb 29 on a given weekday).
_SEARCH_YEARS = 400

WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
MONTHS = {
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

Cronspec = int | str | Iterable[int]


class ParseException(ValueError):
    """A crontab field cannot be parsed."""


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
        return _checked(value, self.max_, self.min_)


def _checked(value: Any, max_: int, min_: int) -> int:
    if not isinstance(value, int) or not min_ <= value < min_ + max_:
        raise ValueError(
            f"Invalid crontab pattern. Valid range is {min_}-{min_ + max_ - 1}. "
            f"'{value}' was found."
        )
    return value


def expand(
    spec: Cronspec | None, max_: int, min_: int = 0, names: Mapping[str, int] | None = None
) -> frozenset[int]:
    """The values of one crontab field given as a string, an int or ints (``None``: all).

    Raises:
        ValueError: the field is invalid.
    """
    if spec is None:
        spec = "*"
    if isinstance(spec, str):
        return frozenset(crontab_parser(max_, min_, names).parse(spec))
    values = [spec] if isinstance(spec, int) else list(spec)
    return frozenset(_checked(value, max_, min_) for value in values)


@dataclass(frozen=True, slots=True)
class CronFields:
    """The expanded fields of a crontab (weekdays count from Sunday = 0)."""

    minute: frozenset[int]
    hour: frozenset[int]
    day_of_week: frozenset[int]
    day_of_month: frozenset[int]
    month_of_year: frozenset[int]

    def can_match(self) -> bool:
        """Whether some day of the month exists in some month of the year."""
        months, days = self.month_of_year, self.day_of_month
        return any(day <= _DAYS_IN_MONTH[month] for month in months for day in days)

    def day_matches(self, day: dt.datetime) -> bool:
        """Whether ``day`` is in both ``day_of_month`` and ``day_of_week``."""
        return day.day in self.day_of_month and day.isoweekday() % 7 in self.day_of_week


def next_wall_time(fields: CronFields, wall: dt.datetime) -> dt.datetime:
    """The first matching wall-clock minute after ``wall`` (naive in, naive out).

    Skips whole months, days and hours that cannot match, so it takes a few steps even
    for rare schedules.
    """
    t = wall.replace(second=0, microsecond=0) + _MINUTE
    last_year = t.year + _SEARCH_YEARS
    hours, minutes = sorted(fields.hour), sorted(fields.minute)
    while t.year <= last_year:
        if t.month not in fields.month_of_year:
            t = (t.replace(day=1) + dt.timedelta(days=32)).replace(day=1, hour=0, minute=0)
        elif not fields.day_matches(t):
            t = t.replace(hour=0, minute=0) + _DAY
        elif t.hour not in fields.hour:
            later = [h for h in hours if h > t.hour]
            t = t.replace(hour=later[0], minute=0) if later else t.replace(hour=0, minute=0) + _DAY
        elif t.minute not in fields.minute:
            later = [m for m in minutes if m > t.minute]
            t = t.replace(minute=later[0]) if later else t.replace(minute=0) + _HOUR
        else:
            return t
    raise ValueError("the crontab never matches")  # pragma: no cover - refused at init


def wall_instants(wall: dt.datetime, tz: dt.tzinfo, *, first_only: bool) -> list[dt.datetime]:
    """The UTC instants at which the clock in ``tz`` shows ``wall`` (naive).

    Two when clocks go back over it, none when they jump over it. With ``first_only``:
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
