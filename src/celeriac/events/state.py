"""An in-memory model of the cluster built from events (Celery's ``State``), bounded.

Feed it every event (``state.event(ev)``); read ``state.workers`` and ``state.tasks``.
Task states move forward by Celery's precedence, so events arriving out of order never
take a task back (a late ``task-started`` does not undo ``task-succeeded``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celeriac import states

__all__ = ["State", "Task", "Worker"]

HEARTBEAT_EXPIRE_WINDOW = 200  # percent of freq, as Celery
_TASK_STATES = {
    "task-sent": "PENDING",
    "task-received": states.RECEIVED,
    "task-started": states.STARTED,
    "task-succeeded": states.SUCCESS,
    "task-failed": states.FAILURE,
    "task-retried": states.RETRY,
    "task-revoked": states.REVOKED,
    "task-rejected": states.REJECTED,
}
_TIME_FIELDS = {
    "task-sent": "sent",
    "task-received": "received",
    "task-started": "started",
    "task-succeeded": "succeeded",
    "task-failed": "failed",
    "task-retried": "retried",
    "task-revoked": "revoked",
    "task-rejected": "rejected",
}
_TASK_FIELDS = (
    "name",
    "args",
    "kwargs",
    "eta",
    "expires",
    "retries",
    "result",
    "exception",
    "traceback",
    "runtime",
    "root_id",
    "parent_id",
    "exchange",
    "routing_key",
    "queue",
)


@dataclass(eq=False)
class Worker:
    """One worker as the events describe it."""

    hostname: str
    pid: int | None = None
    freq: float = 2.0
    heartbeats: list[float] = field(default_factory=list)
    clock: int = 0
    active: int | None = None
    processed: int | None = None
    loadavg: list[float] | None = None
    sw_ident: str | None = None
    sw_ver: str | None = None
    sw_sys: str | None = None
    offline: bool = False

    def update(self, event: dict[str, Any]) -> None:
        """Apply one ``worker-*`` event."""
        for key in (
            "pid",
            "freq",
            "clock",
            "active",
            "processed",
            "loadavg",
            "sw_ident",
            "sw_ver",
            "sw_sys",
        ):
            if key in event:
                setattr(self, key, event[key])
        if event["type"] == "worker-offline":
            self.offline = True
            self.heartbeats.clear()
            return
        self.offline = False
        received = event.get("local_received") or event.get("timestamp") or time.time()
        self.heartbeats = [*self.heartbeats[-29:], float(received)]

    @property
    def heartbeat_expires(self) -> float:
        """When the worker counts as offline without another heartbeat."""
        if not self.heartbeats:
            return 0.0
        return self.heartbeats[-1] + self.freq * HEARTBEAT_EXPIRE_WINDOW / 100

    @property
    def alive(self) -> bool:
        """Whether a heartbeat arrived recently enough."""
        return not self.offline and time.time() < self.heartbeat_expires

    @property
    def status_string(self) -> str:
        """``ONLINE`` or ``OFFLINE``."""
        return "ONLINE" if self.alive else "OFFLINE"


@dataclass(eq=False)
class Task:
    """One task as the events describe it."""

    uuid: str
    name: str | None = None
    state: str = states.PENDING
    args: Any = None
    kwargs: Any = None
    eta: Any = None
    expires: Any = None
    retries: int | None = None
    result: Any = None
    exception: Any = None
    traceback: str | None = None
    runtime: float | None = None
    root_id: str | None = None
    parent_id: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    queue: str | None = None
    worker: Worker | None = None
    timestamp: float | None = None
    clock: int = 0
    sent: float | None = None
    received: float | None = None
    started: float | None = None
    succeeded: float | None = None
    failed: float | None = None
    retried: float | None = None
    revoked: float | None = None
    rejected: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def update(self, event: dict[str, Any], worker: Worker | None) -> None:
        """Apply one ``task-*`` event (state only moves forward)."""
        kind = event["type"]
        new_state = _TASK_STATES.get(kind)
        if new_state is not None and (
            states.precedence(new_state) <= states.precedence(self.state)
            or self.state == states.PENDING
            or new_state == states.RETRY
        ):
            self.state = new_state
        for key in _TASK_FIELDS:
            if event.get(key) is not None:
                setattr(self, key, event[key])
        stamp = event.get("timestamp")
        if kind in _TIME_FIELDS and isinstance(stamp, int | float):
            setattr(self, _TIME_FIELDS[kind], float(stamp))
            self.timestamp = float(stamp)
        if worker is not None and kind != "task-sent":
            self.worker = worker
        self.clock = max(self.clock, int(event.get("clock") or 0))
        self.events = [*self.events[-19:], dict(event)]

    @property
    def ready(self) -> bool:
        """Whether the task reached SUCCESS, FAILURE or REVOKED."""
        return self.state in states.READY_STATES

    def as_dict(self) -> dict[str, Any]:
        """The fields, worker as its hostname (for JSON)."""
        data = {k: v for k, v in vars(self).items() if k not in ("worker", "events")}
        data["worker"] = self.worker.hostname if self.worker else None
        return data


class State:
    """The cluster as seen through events; at most ``max_tasks_in_memory`` tasks."""

    def __init__(
        self,
        max_workers_in_memory: int = 5000,
        max_tasks_in_memory: int = 10000,
        on_node_join: Callable[[Worker], None] | None = None,
        on_node_leave: Callable[[Worker], None] | None = None,
    ) -> None:
        self.max_workers_in_memory = max_workers_in_memory
        self.max_tasks_in_memory = max_tasks_in_memory
        self.on_node_join = on_node_join
        self.on_node_leave = on_node_leave
        self.workers: OrderedDict[str, Worker] = OrderedDict()
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.event_count = 0
        self.task_count = 0
        self._lock = threading.Lock()

    def event(self, event: dict[str, Any]) -> None:
        """Apply one event (or ignore it if it is of an unknown group)."""
        with self._lock:
            self.event_count += 1
            kind = str(event.get("type", ""))
            if kind.startswith("worker-"):
                self._worker_event(event)
            elif kind.startswith("task-") and event.get("uuid"):
                self._task_event(event)

    def _get_worker(self, hostname: str) -> Worker:
        worker = self.workers.get(hostname)
        if worker is None:
            worker = self.workers[hostname] = Worker(hostname)
            while len(self.workers) > self.max_workers_in_memory:
                self.workers.popitem(last=False)
        return worker

    def _worker_event(self, event: dict[str, Any]) -> None:
        worker = self._get_worker(str(event.get("hostname")))
        was_alive = worker.alive
        worker.update(event)
        if not was_alive and worker.alive and self.on_node_join is not None:
            self.on_node_join(worker)
        if was_alive and not worker.alive and self.on_node_leave is not None:
            self.on_node_leave(worker)

    def _task_event(self, event: dict[str, Any]) -> None:
        uuid = str(event["uuid"])
        task = self.tasks.get(uuid)
        if task is None:
            task = self.tasks[uuid] = Task(uuid)
            self.task_count += 1
            while len(self.tasks) > self.max_tasks_in_memory:
                self.tasks.popitem(last=False)
        else:
            self.tasks.move_to_end(uuid)
        hostname = event.get("hostname")
        worker = self._get_worker(str(hostname)) if hostname else None
        task.update(event, worker)

    def tasks_by_time(self, limit: int | None = None) -> list[tuple[str, Task]]:
        """Tasks, newest event first."""
        with self._lock:
            ordered = sorted(self.tasks.items(), key=lambda kv: kv[1].timestamp or 0, reverse=True)
        return ordered[:limit] if limit is not None else ordered

    def itertasks(self, limit: int | None = None) -> Iterator[tuple[str, Task]]:
        """Tasks in the order they were first seen."""
        items = list(self.tasks.items())
        yield from (items[:limit] if limit is not None else items)

    def tasks_by_type(self, name: str) -> list[tuple[str, Task]]:
        """Tasks of one task name, newest first."""
        return [(uuid, task) for uuid, task in self.tasks_by_time() if task.name == name]

    def alive_workers(self) -> list[Worker]:
        """Workers with a recent heartbeat."""
        return [worker for worker in self.workers.values() if worker.alive]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self.workers.clear()
            self.tasks.clear()
            self.event_count = self.task_count = 0
