"""The dashboard's live model: events in, cluster state, charts and metrics out.

One daemon thread reads the broker's event channel and applies each event to a bounded
:class:`~celeriac.events.state.State`, the chart series, the per-name statistics and
the Prometheus counters. Every task change is numbered in a short change log, which is
what the browsers' live streams read (:meth:`ClusterMonitor.changes_since`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac.dashboard.series import Series, TaskTypes
from celeriac.events.receiver import EventReceiver
from celeriac.events.state import State
from celeriac.exceptions import CeleriacError
from celeriac.metrics import TaskMetrics

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["ClusterMonitor"]

logger = logging.getLogger(__name__)

_CHANGES_KEPT = 5000
_RETRY_SECONDS = 2.0


class ClusterMonitor:
    """Keeps the cluster model current from events.

    Args:
        app: The app whose broker carries the events.
        metrics: Where task counters and runtimes go.
        max_tasks: Tasks kept in memory (oldest forgotten first).
        poll_timeout: Longest wait for events in one read (also the stop latency).
        clock: Seconds since the epoch (for the series).
    """

    def __init__(
        self,
        app: Celery,
        metrics: TaskMetrics,
        *,
        max_tasks: int = 10000,
        poll_timeout: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.poll_timeout = poll_timeout
        self.state = State(max_tasks_in_memory=max_tasks)
        self.series = Series(clock=clock)
        self.types = TaskTypes(clock=clock)
        self.started_at = clock()
        self._seq = 0
        self._changes: deque[tuple[int, str]] = deque(maxlen=_CHANGES_KEPT)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start reading events in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="celeriac-dashboard-events")
        self._thread.daemon = True
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Whether the channel is listening (events sent from now on are seen)."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        """Stop reading and release the channel."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                receiver = EventReceiver(self.app)
            except CeleriacError as exc:
                logger.warning("Dashboard: cannot listen to events: %s", exc)
                self._stop.wait(_RETRY_SECONDS)
                continue
            try:
                self._consume(receiver)
            finally:
                receiver.close()

    def _consume(self, receiver: EventReceiver) -> None:
        try:
            for event in receiver.events(timeout=0):  # the first read starts listening
                self._handle_safely(event)
            self._ready.set()
            while not self._stop.is_set():
                for event in receiver.events(timeout=self.poll_timeout):
                    self._handle_safely(event)
        except CeleriacError as exc:
            logger.warning("Dashboard: lost the event stream (%s); reconnecting", exc)
            self._stop.wait(_RETRY_SECONDS)

    def _handle_safely(self, event: dict[str, Any]) -> None:
        try:
            self.handle(event)
        except Exception:  # the loop boundary: one bad event must not stop the dashboard
            logger.exception("Dashboard: could not handle event %r", event.get("type"))

    # -- events ------------------------------------------------------------------------

    def handle(self, event: dict[str, Any]) -> None:
        """Apply one event everywhere it counts."""
        kind = str(event.get("type", ""))
        uuid = str(event.get("uuid") or "")
        if not kind.startswith("task-") or not uuid:
            self.state.event(event)
            return
        previous = self.state.tasks.get(uuid)
        duplicate_sent = kind == "task-sent" and previous is not None and previous.sent is not None
        self.state.event(event)
        task = self.state.tasks.get(uuid)
        name = task.name if task is not None else event.get("name")
        runtime = event.get("runtime") if kind == "task-succeeded" else None
        seconds = float(runtime) if isinstance(runtime, int | float) else None
        if not duplicate_sent:
            self.metrics.observe_event(event, name)
        stamp = event.get("timestamp")
        self.series.record(kind, seconds, float(stamp) if isinstance(stamp, int | float) else None)
        if name:
            self.types.record(str(name), kind, seconds)
        with self._lock:
            self._seq += 1
            self._changes.append((self._seq, uuid))

    def note_sent(self, task_id: str, name: str, args: Any, kwargs: Any, queue: str | None) -> None:
        """Record a task this dashboard sent, so it is listed before any worker reports."""
        self.handle(
            {
                "type": "task-sent",
                "uuid": task_id,
                "name": name,
                "args": repr(tuple(args or ())),
                "kwargs": repr(dict(kwargs or {})),
                "queue": queue,
                "routing_key": queue,
                "timestamp": time.time(),
            }
        )

    # -- reading -----------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The number of the latest task change."""
        with self._lock:
            return self._seq

    def changes_since(self, seq: int) -> tuple[int, list[str] | None]:
        """The latest change number, and the tasks changed after ``seq``.

        ``None`` instead of a list means ``seq`` is too old (the log moved on): reload.
        """
        with self._lock:
            latest = self._seq
            if seq >= latest:
                return latest, []
            if not self._changes or self._changes[0][0] > seq + 1:
                return latest, None
            changed = [uuid for number, uuid in self._changes if number > seq]
        return latest, list(dict.fromkeys(changed))
