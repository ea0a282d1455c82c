"""Schedulers: decide which entries are due and send each due run exactly once.

A scheduler is driven by :meth:`Scheduler.tick`, which returns how long to wait before
the next tick (the loop lives in :class:`~celeriac.beat.service.Service`). Each tick:

1. takes or renews the leader lease in the store; a beat without it only stands by,
   and tries again within a third of the lease time;
2. reloads the run state if it just became the leader (another beat may have sent
   runs meanwhile) and, for :class:`DatabaseScheduler`, the entries if they changed;
3. for every entry that is due, records the run in the store (only if the lease and the
   entry's state are still as read, atomically), then sends the task.

Recording before sending is Celery's order too: a beat killed between the two loses that
one run rather than sending it twice. Runs missed while no beat was up (or while the
lease changed hands) are sent once on the next tick, as in Celery, not once per missed
interval. All times come from an injectable :class:`~celeriac.beat.clock.Clock`.

Three classes, as in Celery and django-celery-beat:

* :class:`Scheduler`: entries from ``beat_schedule``, state in memory only.
* :class:`PersistentScheduler` (the default): the same entries, state in the SQLite
  file named by ``-s/--schedule`` (``beat_schedule_filename``), so a restart neither
  skips nor repeats a run. Several beats given the same file share one schedule.
* :class:`DatabaseScheduler`: entries stored in that file too; ``beat_schedule`` is
  written into it at start, and entries added or changed with :meth:`~Scheduler.add`
  and :meth:`~Scheduler.remove` (from any process) are picked up while beat runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING, Any

from celeriac.beat.clock import Clock, SystemClock
from celeriac.beat.entry import ScheduleEntry, definition_to_entry, entry_to_definition
from celeriac.beat.sqlite_store import SQLiteScheduleStore
from celeriac.beat.store import RUNTIME, MemoryScheduleStore, RunState, ScheduleStore
from celeriac.exceptions import ImproperlyConfigured
from celeriac.schedules import humanize_seconds

if TYPE_CHECKING:
    import datetime as dt

    from celeriac.app.base import Celery
    from celeriac.result import AsyncResult

__all__ = [
    "DEFAULT_LEASE_TIMEOUT",
    "DEFAULT_MAX_INTERVAL",
    "DatabaseScheduler",
    "PersistentScheduler",
    "Scheduler",
    "default_owner",
]

logger = logging.getLogger(__name__)

#: Seconds between ticks when nothing is due sooner (Celery's default).
DEFAULT_MAX_INTERVAL = 300.0
#: Seconds a leader lease lasts without renewal.
DEFAULT_LEASE_TIMEOUT = 30.0


def default_owner() -> str:
    """A beat's name in the lease: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    """Runs ``beat_schedule`` with the run state kept in memory.

    Args:
        app: The app whose ``beat_schedule`` and ``send_task`` are used.
        schedule_filename: The schedule file (``beat_schedule_filename`` by default).
        max_interval: Longest wait between ticks (``beat_max_loop_interval``, else the
            class's :attr:`max_interval`).
        lease_timeout: Seconds the leader lease lasts; another beat sharing the store
            takes over at most this long after the leader stops renewing it.
        clock: The time source (the system clock by default).
        store: Where state is kept (each class makes its own by default).
        lazy: Do not open the store yet (for showing information only).
        owner: This beat's name in the lease (host, pid and a random part by default).
    """

    Entry = ScheduleEntry
    #: Longest wait between ticks, when not configured.
    max_interval: float = DEFAULT_MAX_INTERVAL

    def __init__(
        self,
        app: Celery,
        *,
        schedule_filename: str | None = None,
        max_interval: float | None = None,
        lease_timeout: float | None = None,
        clock: Clock | None = None,
        store: ScheduleStore | None = None,
        lazy: bool = False,
        owner: str | None = None,
    ) -> None:
        self.app = app
        self.schedule_filename = schedule_filename or app.conf.beat_schedule_filename
        self.max_interval = float(
            max_interval or app.conf.beat_max_loop_interval or type(self).max_interval
        )
        self.lease_timeout = float(lease_timeout or DEFAULT_LEASE_TIMEOUT)
        self.clock: Clock = clock or SystemClock()
        self.owner = owner or default_owner()
        self.store = store if store is not None else self.make_store()
        self._entries: dict[str, ScheduleEntry] = {}
        self._states: dict[str, RunState] = {}
        self._states_stale = True
        self._is_leader: bool | None = None
        self._is_set_up = False
        if not lazy:
            self.setup_schedule()

    def make_store(self) -> ScheduleStore:
        """The store this class keeps state in."""
        return MemoryScheduleStore()

    @property
    def info(self) -> str:
        """Lines for the start-up banner."""
        return f"    . lease -> {humanize_seconds(self.lease_timeout)} (as {self.owner})"

    @property
    def is_leader(self) -> bool:
        """Whether this beat held the lease at its last tick."""
        return bool(self._is_leader)

    @property
    def schedule(self) -> dict[str, ScheduleEntry]:
        """The entries, each with its run state."""
        return {name: self._with_state(entry) for name, entry in sorted(self._entries.items())}

    def setup_schedule(self) -> None:
        """Open the store and load the entries."""
        self.store.open()
        self._entries = self.load_entries()
        self._states = self.store.load_states()
        self._is_set_up = True
        logger.debug("beat: Current schedule:\n%s", "\n".join(map(repr, self.schedule.values())))

    def load_entries(self) -> dict[str, ScheduleEntry]:
        """The entries of ``beat_schedule``; stored state of other entries is dropped."""
        entries = _config_entries(self.app)
        stale = set(self.store.load_states()) - set(entries)
        self.store.forget_states(stale)
        return entries

    # -- the tick -----------------------------------------------------------------------

    def tick(self) -> float:
        """Send what is due; return the seconds to wait before the next tick."""
        if not self._is_set_up:
            self.setup_schedule()
        now = self.clock.now()
        standby = min(self.lease_timeout / 3, self.max_interval)
        if not self._keep_lease(now):
            return standby
        self.refresh(now)
        wait = standby
        for name in sorted(self._entries):
            entry = self._with_state(self._entries[name])
            try:
                is_due, next_check = entry.is_due(now)
            except Exception:
                logger.exception("beat: cannot compute the next run of %r", name)
                continue
            if is_due:
                self._run(entry, now)
            wait = min(wait, next_check)
        return max(wait, 0.0)

    def _keep_lease(self, now: dt.datetime) -> bool:
        held = self.store.acquire_lease(self.owner, now=now, ttl=self.lease_timeout)
        if held and not self._is_leader:
            logger.info("beat: %s holds the leader lease; sending due tasks", self.owner)
            self._states_stale = True
        elif not held and self._is_leader:
            logger.warning("beat: %s lost the leader lease to another beat", self.owner)
        elif not held and self._is_leader is None:
            logger.info("beat: another beat holds the leader lease; %s stands by", self.owner)
        self._is_leader = held
        return held

    def refresh(self, now: dt.datetime) -> None:
        """Bring entries and run state up to date (called by the leader on each tick)."""
        missing = {name: RunState(now, 0) for name in self._entries if name not in self._states}
        if self._states_stale or missing:
            self._states = self.store.load_states(missing)
            self._states_stale = False

    def _with_state(self, entry: ScheduleEntry) -> ScheduleEntry:
        state = self._states.get(entry.name or "")
        if state is None:
            return entry
        return entry.with_run(state.last_run_at, state.total_run_count)

    def _run(self, entry: ScheduleEntry, now: dt.datetime) -> None:
        name = entry.name or ""
        expected = self._states[name]
        new = RunState(now, expected.total_run_count + 1)
        if not self.store.claim_run(name, expected=expected, new=new, owner=self.owner, now=now):
            logger.warning("beat: not sending %s: another beat sent it or took the lease", name)
            self._states_stale = True
            return
        self._states[name] = new
        logger.info("Scheduler: Sending due task %s (%s)", name, entry.task)
        try:
            result = self.apply_async(entry)
        except Exception as exc:
            logger.error("Message Error: %s", exc, exc_info=True)
        else:
            logger.debug("%s sent. id->%s", entry.task, result.id)

    def apply_async(self, entry: ScheduleEntry) -> AsyncResult[Any]:
        """Send one run of ``entry`` (through the task if it is registered here)."""
        options = dict(entry.options)
        options["headers"] = {**(options.get("headers") or {}), "celery_beat_task": True}
        name = entry.task or ""
        task = self.app.tasks.get(name)
        if task is not None:
            return task.apply_async(entry.args, entry.kwargs, **options)
        return self.app.send_task(name, entry.args, entry.kwargs, **options)

    # -- changing entries ---------------------------------------------------------------

    def add(self, **fields: Any) -> ScheduleEntry:
        """Add or replace an entry (``name=``, ``task=``, ``schedule=``, ``args=`` ...)."""
        entry = self.Entry(app=self.app, **fields)
        if not entry.name or not entry.task or entry.schedule is None:
            raise ImproperlyConfigured("a schedule entry needs a name, a task and a schedule")
        self._entries[entry.name] = entry
        return entry

    def remove(self, name: str) -> bool:
        """Remove an entry; return whether it existed."""
        self.store.forget_states([name])
        self._states.pop(name, None)
        return self._entries.pop(name, None) is not None

    # -- life cycle ---------------------------------------------------------------------

    def sync(self) -> None:
        """Nothing to do: every run is written to the store as it is recorded."""

    def close(self) -> None:
        """Give up the lease (so another beat takes over at once) and close the store."""
        try:
            if self._is_leader:
                self.store.release_lease(self.owner)
                self._is_leader = False
        finally:
            self.store.close()


class PersistentScheduler(Scheduler):
    """Runs ``beat_schedule``, keeping run state in the schedule file (SQLite)."""

    def make_store(self) -> ScheduleStore:
        """A SQLite store in ``schedule_filename``."""
        return SQLiteScheduleStore(path=self.schedule_filename)

    @property
    def info(self) -> str:
        """The schedule file and the lease, for the banner."""
        return f"    . db -> {self.schedule_filename}\n{super().info}"


class DatabaseScheduler(PersistentScheduler):
    """Keeps entries in the schedule file too, so they can change while beat runs.

    ``beat_schedule`` is written into the store at start (replacing what an earlier
    start wrote there); entries added with :meth:`add` are kept until :meth:`remove`.
    Any process may edit them, e.g. ``DatabaseScheduler(app, lazy=True).add(...)``;
    running beats see the change on their next tick (every 5 seconds by default).
    """

    max_interval = 5.0

    def __init__(self, app: Celery, **options: Any) -> None:
        self._version = -1
        super().__init__(app, **options)

    def load_entries(self) -> dict[str, ScheduleEntry]:
        """Write ``beat_schedule`` into the store, then read every stored entry."""
        definitions = {}
        for name, entry in _config_entries(self.app).items():
            try:
                definitions[name] = json.loads(json.dumps(entry_to_definition(entry)))
            except TypeError as exc:
                raise ImproperlyConfigured(
                    f"beat_schedule entry {name!r} cannot be stored by DatabaseScheduler: "
                    f"{exc} (arguments and options must be JSON)"
                ) from exc
        self.store.replace_config_definitions(definitions)
        return self._read_entries()

    def _read_entries(self) -> dict[str, ScheduleEntry]:
        self._version = self.store.definitions_version()
        entries = {}
        for name, definition in self.store.load_definitions().items():
            try:
                entries[name] = definition_to_entry(name, definition, self.app)
            except ValueError:
                logger.exception("beat: skipping stored entry %r", name)
        return entries

    def refresh(self, now: dt.datetime) -> None:
        """Reload the entries if any changed, then the run state."""
        if self.store.definitions_version() != self._version:
            self._entries = self._read_entries()
            self._states_stale = True
            logger.info("beat: schedule changed; %d entries", len(self._entries))
        super().refresh(now)

    def add(self, **fields: Any) -> ScheduleEntry:
        """Add or replace an entry in the store (arguments and options must be JSON)."""
        if not self._is_set_up:
            self.store.open()
        entry = super().add(**fields)
        self.store.save_definition(entry.name or "", entry_to_definition(entry), source=RUNTIME)
        return entry

    def remove(self, name: str) -> bool:
        """Delete an entry from the store."""
        if not self._is_set_up:
            self.store.open()
        super().remove(name)
        return self.store.delete_definition(name)


def _config_entries(app: Celery) -> dict[str, ScheduleEntry]:
    return {
        name: ScheduleEntry.from_config(name, item, app)
        for name, item in (app.conf.beat_schedule or {}).items()
    }
