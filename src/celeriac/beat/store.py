"""Where beat keeps what must outlive a beat process: run state, entries, the leader lease.

:class:`ScheduleStore` is the contract; :class:`MemoryScheduleStore` keeps everything in
the process (the plain ``Scheduler``, tests) and
:class:`~celeriac.beat.sqlite_store.SQLiteScheduleStore` in a file several processes
share. Another engine (Redis) implements the same methods.

Three things are stored:

* **Run state** per entry name: when it last ran and how many times (:class:`RunState`).
  :meth:`~ScheduleStore.claim_run` records a run only if the state is still the one the
  caller read and the caller still holds the lease, atomically; so of several beats that
  find the same run due, exactly one sends it.
* **The leader lease**: one owner and an expiry. The owner renews it on every tick; when
  it stops (crash, network partition), another beat takes it once it has expired, reads
  the shared run state, and so sends exactly the runs that are still due.
* **Entry definitions** (JSON, see :func:`~celeriac.beat.entry.entry_to_definition`),
  used by ``DatabaseScheduler`` so entries can change while beat runs. Each is tagged
  with its source: ``config`` (``beat_schedule``, replaced at every start) or
  ``runtime`` (added through the API, kept). A version number changes on every edit.
"""

from __future__ import annotations

import datetime as dt
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, final

from celeriac.exceptions import CeleriacError

__all__ = [
    "CONFIG",
    "RUNTIME",
    "MemoryScheduleStore",
    "RunState",
    "ScheduleStore",
    "SchedulingError",
]

#: Definition sources.
CONFIG = "config"
RUNTIME = "runtime"


class SchedulingError(CeleriacError):
    """Beat cannot read or write its schedule (Celery's ``celery.beat.SchedulingError``)."""


@dataclass(frozen=True, slots=True)
class RunState:
    """When an entry last ran (aware, UTC) and how many times it has run."""

    last_run_at: dt.datetime
    total_run_count: int = 0


class ScheduleStore(ABC):
    """The persistence of one schedule, shared by every beat process that opens it."""

    def open(self) -> None:
        """Connect or create; called before any other method."""

    def close(self) -> None:
        """Release connections (idempotent)."""

    @property
    def location(self) -> str:
        """Where the store is, for the start-up banner."""
        return type(self).__name__

    # -- the leader lease ---------------------------------------------------------------

    @abstractmethod
    def acquire_lease(self, owner: str, *, now: dt.datetime, ttl: float) -> bool:
        """Take the lease if it is free or expired, or renew it if ``owner`` has it.

        Returns:
            Whether ``owner`` holds the lease until ``now + ttl``.
        """

    @abstractmethod
    def release_lease(self, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it, so another beat need not wait."""

    # -- run state ----------------------------------------------------------------------

    @abstractmethod
    def load_states(self, missing: Mapping[str, RunState] | None = None) -> dict[str, RunState]:
        """Every entry's run state, first adding ``missing`` ones that have none yet."""

    @abstractmethod
    def claim_run(
        self, name: str, *, expected: RunState, new: RunState, owner: str, now: dt.datetime
    ) -> bool:
        """Record a run of ``name``, atomically, if nothing changed since it was read.

        Returns:
            ``False``, recording nothing, unless the entry's state is ``expected`` and
            ``owner`` holds an unexpired lease at ``now``.
        """

    @abstractmethod
    def forget_states(self, names: Iterable[str]) -> None:
        """Drop the run state of entries that no longer exist."""

    # -- entry definitions --------------------------------------------------------------

    @abstractmethod
    def definitions_version(self) -> int:
        """A number that changes whenever a definition is saved or deleted."""

    @abstractmethod
    def load_definitions(self) -> dict[str, dict[str, Any]]:
        """Every stored definition by entry name."""

    @abstractmethod
    def save_definition(self, name: str, definition: Mapping[str, Any], *, source: str) -> None:
        """Add or replace one definition."""

    @abstractmethod
    def delete_definition(self, name: str) -> bool:
        """Delete a definition and its run state; return whether it existed."""

    @abstractmethod
    def replace_config_definitions(self, definitions: Mapping[str, Mapping[str, Any]]) -> None:
        """Make the ``config`` definitions exactly these (``runtime`` ones are kept).

        A ``runtime`` definition of the same name is replaced by the configured one.
        """


@final
class MemoryScheduleStore(ScheduleStore):
    """A store in this process only: state is lost when it exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lease: tuple[str, dt.datetime] | None = None
        self._states: dict[str, RunState] = {}
        self._definitions: dict[str, tuple[dict[str, Any], str]] = {}
        self._version = 0

    @property
    def location(self) -> str:
        """``memory``."""
        return "memory"

    def acquire_lease(self, owner: str, *, now: dt.datetime, ttl: float) -> bool:
        """Take or renew the lease."""
        with self._lock:
            if self._lease is not None and self._lease[0] != owner and self._lease[1] > now:
                return False
            self._lease = (owner, now + dt.timedelta(seconds=ttl))
            return True

    def release_lease(self, owner: str) -> None:
        """Give the lease up if ``owner`` holds it."""
        with self._lock:
            if self._lease is not None and self._lease[0] == owner:
                self._lease = None

    def load_states(self, missing: Mapping[str, RunState] | None = None) -> dict[str, RunState]:
        """Every run state, after adding ``missing`` ones."""
        with self._lock:
            for name, state in (missing or {}).items():
                self._states.setdefault(name, state)
            return dict(self._states)

    def claim_run(
        self, name: str, *, expected: RunState, new: RunState, owner: str, now: dt.datetime
    ) -> bool:
        """Record a run if the state and the lease are as expected."""
        with self._lock:
            lease = self._lease
            if lease is None or lease[0] != owner or lease[1] <= now:
                return False
            if self._states.get(name) != expected:
                return False
            self._states[name] = new
            return True

    def forget_states(self, names: Iterable[str]) -> None:
        """Drop these run states."""
        with self._lock:
            for name in names:
                self._states.pop(name, None)

    def definitions_version(self) -> int:
        """The edit counter."""
        with self._lock:
            return self._version

    def load_definitions(self) -> dict[str, dict[str, Any]]:
        """Every definition."""
        with self._lock:
            return {name: dict(definition) for name, (definition, _) in self._definitions.items()}

    def save_definition(self, name: str, definition: Mapping[str, Any], *, source: str) -> None:
        """Add or replace a definition."""
        with self._lock:
            self._definitions[name] = (dict(definition), source)
            self._version += 1

    def delete_definition(self, name: str) -> bool:
        """Delete a definition and its state."""
        with self._lock:
            self._states.pop(name, None)
            existed = self._definitions.pop(name, None) is not None
            self._version += 1
            return existed

    def replace_config_definitions(self, definitions: Mapping[str, Mapping[str, Any]]) -> None:
        """Make the ``config`` definitions exactly these."""
        with self._lock:
            for name, (_, source) in list(self._definitions.items()):
                if source == CONFIG and name not in definitions:
                    del self._definitions[name]
                    self._states.pop(name, None)
            for name, definition in definitions.items():
                self._definitions[name] = (dict(definition), CONFIG)
            self._version += 1
