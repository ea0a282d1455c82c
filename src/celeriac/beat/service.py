"""The beat loop: tick the scheduler, wait as long as it says, until stopped."""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING

from celeriac import signals
from celeriac.beat.clock import Clock, SystemClock
from celeriac.beat.scheduler import PersistentScheduler, Scheduler, default_owner
from celeriac.exceptions import ImproperlyConfigured
from celeriac.schedules import humanize_seconds

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["SCHEDULER_ALIASES", "Service", "scheduler_class"]

logger = logging.getLogger(__name__)

#: Celery's scheduler paths (its ``beat_scheduler`` default among them) -> celeriac's.
SCHEDULER_ALIASES = {
    "celery.beat:PersistentScheduler": "celeriac.beat.scheduler:PersistentScheduler",
    "celery.beat.PersistentScheduler": "celeriac.beat.scheduler:PersistentScheduler",
    "celery.beat:Scheduler": "celeriac.beat.scheduler:Scheduler",
    "celery.beat.Scheduler": "celeriac.beat.scheduler:Scheduler",
}

#: Seconds to wait after a tick failed (the store or broker is unreachable).
_ERROR_PAUSE = 5.0


def scheduler_class(spec: str | type[Scheduler] | None) -> type[Scheduler]:
    """The scheduler class named by ``spec`` (``'module:Class'`` or ``'module.Class'``).

    Raises:
        ImproperlyConfigured: it cannot be imported or is not a ``Scheduler``.
    """
    if spec is None:
        return PersistentScheduler
    if isinstance(spec, type):
        found: object = spec
    else:
        path = SCHEDULER_ALIASES.get(spec, spec)
        module_name, sep, attr = path.partition(":")
        if not sep:
            module_name, _, attr = path.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ImproperlyConfigured(f"cannot import scheduler {spec!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Scheduler)):
        raise ImproperlyConfigured(f"{spec!r} is not a celeriac.beat Scheduler class")
    return found


class Service:
    """Runs a scheduler until :meth:`stop` (Celery's ``celery.beat.Service``).

    Args:
        app: The app.
        max_interval: Longest wait between ticks (see :class:`Scheduler`).
        schedule_filename: The schedule file (``beat_schedule_filename`` by default).
        scheduler_cls: The scheduler class or its path (``beat_scheduler`` by default).
        lease_timeout: Seconds the leader lease lasts.
        clock: The time source (tests pass a fake one).
        owner: This beat's name in the leader lease.
    """

    def __init__(
        self,
        app: Celery,
        *,
        max_interval: float | None = None,
        schedule_filename: str | None = None,
        scheduler_cls: str | type[Scheduler] | None = None,
        lease_timeout: float | None = None,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> None:
        self.app = app
        self.owner = owner or default_owner()
        self.max_interval = max_interval
        self.schedule_filename = schedule_filename or app.conf.beat_schedule_filename
        self.scheduler_cls = scheduler_class(scheduler_cls or app.conf.beat_scheduler)
        self.lease_timeout = lease_timeout
        self.clock: Clock = clock or SystemClock()
        self._stopped = threading.Event()
        self._scheduler: Scheduler | None = None

    def get_scheduler(self, lazy: bool = False) -> Scheduler:
        """A new scheduler (``lazy``: without opening its store)."""
        return self.scheduler_cls(
            self.app,
            schedule_filename=self.schedule_filename,
            max_interval=self.max_interval,
            lease_timeout=self.lease_timeout,
            clock=self.clock,
            lazy=lazy,
            owner=self.owner,
        )

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler this service runs (made on first use)."""
        if self._scheduler is None:
            self._scheduler = self.get_scheduler()
        return self._scheduler

    def start(self) -> None:
        """Tick until :meth:`stop` is called; then close the scheduler."""
        logger.info("beat: Starting...")
        self.app.finalize()  # on_after_configure receivers may add entries
        signals.beat_init.send(sender=self)
        try:
            scheduler = self.scheduler
            while not self._stopped.is_set():
                started = self.clock.now()
                try:
                    wait = scheduler.tick()
                except Exception:
                    logger.exception("beat: tick failed; trying again in %s", _ERROR_PAUSE)
                    wait = _ERROR_PAUSE
                # The wait counts from the tick's start, so the tick's own work adds no drift.
                wait -= (self.clock.now() - started).total_seconds()
                logger.debug("beat: Waking up in %s.", humanize_seconds(wait))
                self.clock.wait(self._stopped, wait)
        finally:
            self.sync()
            if self._scheduler is not None:
                self._scheduler.close()
            logger.info("beat: Stopped.")

    def sync(self) -> None:
        """Write pending state (every run is written as it is recorded)."""
        if self._scheduler is not None:
            self._scheduler.sync()

    def stop(self) -> None:
        """Ask :meth:`start` to return after the current tick."""
        self._stopped.set()

    @property
    def is_stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped.is_set()
