"""What events do not say, asked for on a timer: worker details and queue lengths.

:class:`Inspector` asks the workers over remote control (``stats``, ``active_queues``,
``registered``) every ``interval`` seconds, or at once after :meth:`Inspector.poke`.
:class:`QueueWatch` reads the broker's queue lengths and keeps a short history of each.
Both run in a daemon thread of their own, so a slow broker or a silent cluster never
holds up a page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import CeleriacError

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Inspector", "NodeInfo", "QueueWatch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One worker's last answers to remote control."""

    hostname: str
    stats: dict[str, Any] = field(default_factory=dict)
    queues: tuple[str, ...] = ()
    registered: tuple[str, ...] = ()
    seen: float = 0.0


class _Ticker:
    """A daemon thread calling ``tick`` every ``interval`` seconds, or sooner when poked."""

    def __init__(self, name: str, interval: float) -> None:
        self.name = name
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start ticking (the first tick is immediate)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Tick now instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the current tick."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except CeleriacError as exc:
                logger.warning("Dashboard: %s failed: %s", self.name, exc)
            except Exception:  # the loop boundary: keep polling after a surprise
                logger.exception("Dashboard: %s failed", self.name)
            self._wake.wait(self.interval)
            self._wake.clear()


def _queue_names(replies: Any) -> tuple[str, ...]:
    if not isinstance(replies, list):
        return ()
    return tuple(str(q.get("name")) for q in replies if isinstance(q, dict) and q.get("name"))


def _task_names(replies: Any) -> tuple[str, ...]:
    if not isinstance(replies, list):
        return ()
    # ``registered`` lines may carry attributes: "proj.add [rate_limit=10/m]".
    return tuple(str(line).split(" [", 1)[0] for line in replies)


class Inspector(_Ticker):
    """The workers' pool, counters, queues and task names, from remote control.

    Args:
        app: The app whose workers are asked.
        interval: Seconds between two rounds of questions.
        timeout: Seconds to wait for replies to each question.
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        app: Celery,
        *,
        interval: float = 10.0,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__("celeriac-dashboard-inspect", interval)
        self.app = app
        self.timeout = timeout
        self.clock = clock
        self._nodes: dict[str, NodeInfo] = {}
        self._lock = threading.Lock()
        self.rounds = 0

    def tick(self) -> None:
        """Ask every worker; remember who answered and what."""
        inspect = self.app.control.inspect(timeout=self.timeout)
        stats = inspect.stats() or {}
        queues = inspect.active_queues() or {} if stats else {}
        registered = inspect.registered() or {} if stats else {}
        now = self.clock()
        with self._lock:
            for hostname, reply in stats.items():
                self._nodes[hostname] = NodeInfo(
                    hostname,
                    reply if isinstance(reply, dict) else {},
                    _queue_names(queues.get(hostname)),
                    _task_names(registered.get(hostname)),
                    now,
                )
            self.rounds += 1

    def nodes(self) -> dict[str, NodeInfo]:
        """The last answers, by worker name."""
        with self._lock:
            return dict(self._nodes)

    def task_names(self) -> set[str]:
        """Every task name some worker registered."""
        with self._lock:
            return {name for node in self._nodes.values() for name in node.registered}


class QueueWatch(_Ticker):
    """Queue lengths now and over the last ``history`` readings.

    Args:
        app: The app whose broker is read.
        names: Returns the queue names to read.
        interval: Seconds between readings.
        history: Readings kept per queue.
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        app: Celery,
        names: Callable[[], Iterable[str]],
        *,
        interval: float = 2.0,
        history: int = 150,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__("celeriac-dashboard-queues", interval)
        self.app = app
        self.names = names
        self.history = history
        self.clock = clock
        self._lengths: dict[str, int | None] = {}
        self._history: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def read(self) -> dict[str, int | None]:
        """Read every queue's length now (``None`` for a queue the broker cannot size)."""
        lengths: dict[str, int | None] = {}
        broker = self.app.broker
        for name in sorted(set(self.names())):
            try:
                lengths[name] = broker.size(name)
            except CeleriacError as exc:
                logger.debug("Dashboard: cannot size queue %s: %s", name, exc)
                lengths[name] = None
        return lengths

    def tick(self) -> None:
        """Read the lengths and add them to the history."""
        lengths = self.read()
        now = self.clock()
        with self._lock:
            self._lengths = lengths
            for name, length in lengths.items():
                if length is not None:
                    points = self._history.setdefault(name, deque(maxlen=self.history))
                    points.append((now, length))

    def lengths(self) -> dict[str, int | None]:
        """The last reading."""
        with self._lock:
            return dict(self._lengths)

    def points(self, name: str) -> list[tuple[float, int]]:
        """The readings of one queue, oldest first."""
        with self._lock:
            return list(self._history.get(name, ()))
