"""One periodic task: what to send, on which schedule, and when it last ran.

Entries come from the ``beat_schedule`` setting (Celery's dict form) or, with
:class:`~celeriac.beat.scheduler.DatabaseScheduler`, from the schedule store, where they
are kept as JSON *definitions* (:func:`entry_to_definition`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.schedules import BaseSchedule, crontab, maybe_schedule, schedstate, schedule, solar

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["ScheduleEntry", "definition_to_entry", "entry_to_definition"]

#: The keys of a ``beat_schedule`` item ScheduleEntry accepts.
_ENTRY_KEYS = {"task", "schedule", "args", "kwargs", "options", "relative"}


class ScheduleEntry:
    """A periodic task as the scheduler sees it (Celery's ``celery.beat.ScheduleEntry``).

    Args:
        name: The entry's key in the schedule.
        task: The name of the task to send.
        last_run_at: When it was last sent (``None``: not yet; the scheduler fills in the
            time it first saw the entry).
        total_run_count: How many times it was sent.
        schedule: A schedule, or seconds / a timedelta for an interval.
        args: Positional arguments of each call.
        kwargs: Keyword arguments of each call.
        options: ``apply_async`` options of each call (queue, priority, expires ...).
        relative: For an interval given as a number or timedelta, round runs to its unit.
        app: The app (its time zone is used by crontabs).

    Raises:
        TypeError: the schedule is of another kind (such as a ``celery.schedules`` one).
    """

    __slots__ = (
        "app",
        "args",
        "kwargs",
        "last_run_at",
        "name",
        "options",
        "schedule",
        "task",
        "total_run_count",
    )

    def __init__(
        self,
        name: str | None = None,
        task: str | None = None,
        last_run_at: dt.datetime | None = None,
        total_run_count: int | None = None,
        schedule: BaseSchedule | float | dt.timedelta | None = None,
        args: Iterable[Any] | None = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        relative: bool = False,
        app: Celery | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self.task = task
        self.args: tuple[Any, ...] = tuple(args or ())
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.options: dict[str, Any] = dict(options or {})
        if not isinstance(schedule, BaseSchedule | int | float | dt.timedelta | None):
            raise TypeError(
                "the schedule must be seconds, a timedelta, or a schedule from "
                f"celeriac.schedules (schedule, crontab, solar), not {schedule!r}"
            )
        self.schedule: BaseSchedule | None = maybe_schedule(schedule, relative, app)
        self.last_run_at = last_run_at
        self.total_run_count = total_run_count or 0

    @classmethod
    def from_config(cls, name: str, item: Mapping[str, Any], app: Celery) -> ScheduleEntry:
        """An entry from one ``beat_schedule`` item (``{'task': ..., 'schedule': ...}``).

        Raises:
            ImproperlyConfigured: the item has no task or schedule, or unknown keys.
        """
        unknown = set(item) - _ENTRY_KEYS - {"name"}
        if unknown:
            raise ImproperlyConfigured(
                f"beat_schedule entry {name!r} has unknown keys: {', '.join(sorted(unknown))}"
            )
        if not item.get("task") or item.get("schedule") is None:
            raise ImproperlyConfigured(f"beat_schedule entry {name!r} needs a task and a schedule")
        fields = {key: item[key] for key in _ENTRY_KEYS if key in item}
        try:
            return cls(name=name, app=app, **fields)
        except TypeError as exc:
            raise ImproperlyConfigured(f"beat_schedule entry {name!r}: {exc}") from exc

    def with_run(self, last_run_at: dt.datetime, total_run_count: int) -> ScheduleEntry:
        """A copy with this run state."""
        return ScheduleEntry(
            name=self.name,
            task=self.task,
            last_run_at=last_run_at,
            total_run_count=total_run_count,
            schedule=self.schedule,
            args=self.args,
            kwargs=self.kwargs,
            options=self.options,
            app=self.app,
        )

    def _next_instance(self, last_run_at: dt.datetime | None = None) -> ScheduleEntry:
        """A copy that ran once more, at ``last_run_at`` (now by default)."""
        return self.with_run(last_run_at or self.default_now(), self.total_run_count + 1)

    __next__ = next = _next_instance

    def default_now(self) -> dt.datetime:
        """The current time, by the schedule's clock."""
        if self.schedule is not None:
            return self.schedule.now()
        return dt.datetime.now(dt.timezone.utc)

    def is_due(self, now: dt.datetime | None = None) -> schedstate:
        """Whether a run is due, and the seconds until the next check (see ``schedules``)."""
        if self.schedule is None:
            raise ImproperlyConfigured(f"schedule entry {self.name!r} has no schedule")
        now = now or self.default_now()
        return self.schedule.is_due(self.last_run_at or now, now=now)

    def update(self, other: ScheduleEntry) -> None:
        """Take the editable fields of ``other`` (task, schedule, args, kwargs, options)."""
        self.task = other.task
        self.schedule = other.schedule
        self.args = other.args
        self.kwargs = other.kwargs
        self.options = other.options

    def editable_fields_equal(self, other: ScheduleEntry) -> bool:
        """Whether task, schedule, args, kwargs and options are the same."""
        return all(
            getattr(self, name) == getattr(other, name)
            for name in ("task", "args", "kwargs", "options", "schedule")
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScheduleEntry):
            return self.editable_fields_equal(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by its fields

    def __repr__(self) -> str:
        call = ", ".join(
            [*(repr(arg) for arg in self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())]
        )
        return f"<ScheduleEntry: {self.name} {self.task}({call}) {self.schedule!r}"


def _schedule_to_json(value: BaseSchedule | None) -> dict[str, Any]:
    if isinstance(value, crontab):
        return {
            "type": "crontab",
            "minute": _cronspec(value._orig_minute),
            "hour": _cronspec(value._orig_hour),
            "day_of_week": _cronspec(value._orig_day_of_week),
            "day_of_month": _cronspec(value._orig_day_of_month),
            "month_of_year": _cronspec(value._orig_month_of_year),
        }
    if isinstance(value, schedule):
        return {"type": "interval", "every": value.seconds, "relative": value.relative}
    if isinstance(value, solar):
        return {"type": "solar", "event": value.event, "lat": value.lat, "lon": value.lon}
    raise TypeError(
        f"cannot store a {type(value).__name__} schedule; use schedule, crontab or solar"
    )


def _cronspec(value: Any) -> str | list[int]:
    return value if isinstance(value, str) else [value] if isinstance(value, int) else sorted(value)


def _schedule_from_json(data: Mapping[str, Any], app: Celery | None) -> BaseSchedule:
    kind = data.get("type")
    if kind == "interval":
        return schedule(float(data["every"]), bool(data.get("relative", False)), app=app)
    if kind == "crontab":
        fields = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
        return crontab(**{name: data.get(name, "*") for name in fields}, app=app)
    if kind == "solar":
        return solar(str(data["event"]), float(data["lat"]), float(data["lon"]), app=app)
    raise ValueError(f"unknown schedule type {kind!r}")


def entry_to_definition(entry: ScheduleEntry) -> dict[str, Any]:
    """The entry as a JSON-ready dict (without its run state).

    Raises:
        TypeError: the schedule is not one of celeriac's.
    """
    return {
        "task": entry.task,
        "schedule": _schedule_to_json(entry.schedule),
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "options": dict(entry.options),
    }


def definition_to_entry(name: str, definition: Mapping[str, Any], app: Celery) -> ScheduleEntry:
    """The entry a stored definition describes (with no run state).

    Raises:
        ValueError: the definition is malformed.
    """
    try:
        return ScheduleEntry(
            name=name,
            task=str(definition["task"]),
            schedule=_schedule_from_json(definition["schedule"], app),
            args=definition.get("args") or (),
            kwargs=definition.get("kwargs") or {},
            options=definition.get("options") or {},
            app=app,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed schedule entry {name!r}: {exc}") from exc
