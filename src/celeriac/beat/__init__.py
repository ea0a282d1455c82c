"""Periodic tasks: ``celeriac beat`` and the schedulers behind it (``celery.beat``)."""

from __future__ import annotations

from celeriac.beat.clock import Clock, FakeClock, SystemClock
from celeriac.beat.embedded import EmbeddedBeat
from celeriac.beat.entry import ScheduleEntry
from celeriac.beat.scheduler import DatabaseScheduler, PersistentScheduler, Scheduler
from celeriac.beat.service import Service
from celeriac.beat.store import SchedulingError

__all__ = [
    "Clock",
    "DatabaseScheduler",
    "EmbeddedBeat",
    "FakeClock",
    "PersistentScheduler",
    "ScheduleEntry",
    "Scheduler",
    "SchedulingError",
    "Service",
    "SystemClock",
]
