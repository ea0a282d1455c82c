"""The dashboard's composition root: the live model, the pollers and the metrics.

:class:`Dashboard` owns the event monitor, the remote-control inspector and the queue
watch, starts them in that order and stops them in reverse, and merges what they know
into the pages' data: workers, queues, the overview and the ``/metrics`` gauges.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.brokers.base import DEAD_LETTER_QUEUE
from celeriac.dashboard.monitor import ClusterMonitor
from celeriac.dashboard.options import DashboardOptions
from celeriac.dashboard.pollers import Inspector, NodeInfo, QueueWatch
from celeriac.dashboard.views import task_row
from celeriac.metrics import TaskMetrics

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.events.state import Task, Worker

__all__ = ["Dashboard"]

#: Recent failures listed on the overview.
RECENT_FAILURES = 8
#: Task names listed on the overview.
TYPES_SHOWN = 50


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _software(worker: Worker | None, stats: dict[str, Any]) -> str | None:
    """``celeriac 0.1.0``: remote control's answer first (heartbeats say ``py-celery``)."""
    ident = stats.get("sw_ident") or (worker.sw_ident if worker is not None else None)
    version = stats.get("sw_ver") or (worker.sw_ver if worker is not None else None)
    return " ".join(str(part) for part in (ident, version) if part) or None


class Dashboard:
    """Everything behind the pages, for one app.

    Args:
        app: The app whose cluster is shown.
        options: Intervals, limits and timeouts.
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        app: Celery,
        options: DashboardOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.options = options or DashboardOptions()
        self.clock = clock
        self.metrics = TaskMetrics()
        self.monitor = ClusterMonitor(
            app, self.metrics, max_tasks=self.options.max_tasks, clock=clock
        )
        self.inspector = Inspector(
            app,
            interval=self.options.inspect_interval,
            timeout=self.options.inspect_timeout,
            clock=clock,
        )
        self.queue_watch = QueueWatch(
            app, self.queue_names, interval=self.options.queue_interval, clock=clock
        )
        self.metrics.registry.add_collector(self.collect_metrics)

    def start(self) -> None:
        """Listen to events, then start asking the workers and the broker."""
        self.monitor.start()
        self.inspector.start()
        self.queue_watch.start()

    def stop(self) -> None:
        """Stop in reverse order."""
        self.queue_watch.stop()
        self.inspector.stop()
        self.monitor.stop()

    # -- workers -----------------------------------------------------------------------

    def _is_online(self, worker: Worker | None, node: NodeInfo | None) -> bool:
        if worker is not None and worker.alive:
            return True
        if node is None or (worker is not None and worker.offline):
            return False
        patience = 2.5 * self.options.inspect_interval + self.options.inspect_timeout
        return self.clock() - node.seen < patience

    def _task_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for _, task in self.monitor.state.tasks_by_time():
            if task.worker is not None and task.state in (states.RECEIVED, states.STARTED):
                per = counts.setdefault(task.worker.hostname, {})
                per[task.state] = per.get(task.state, 0) + 1
        return counts

    def workers(self) -> list[dict[str, Any]]:
        """Every worker seen through events or remote control, by name."""
        known = dict(self.monitor.state.workers)
        nodes = self.inspector.nodes()
        counts = self._task_counts()
        names = {n for n, w in known.items() if w.heartbeats or w.offline} | set(nodes)
        return [
            self._worker_row(name, known.get(name), nodes.get(name), counts.get(name, {}))
            for name in sorted(names)
        ]

    def _worker_row(
        self, name: str, worker: Worker | None, node: NodeInfo | None, counts: dict[str, int]
    ) -> dict[str, Any]:
        stats = node.stats if node is not None else {}
        pool = _mapping(stats.get("pool"))
        total = _mapping(stats.get("total"))
        heartbeat = worker.heartbeats[-1] if worker is not None and worker.heartbeats else None
        active = worker.active if worker is not None and worker.active is not None else None
        processed = worker.processed if worker is not None else None
        return {
            "hostname": name,
            "online": self._is_online(worker, node),
            "pool": {
                "implementation": str(pool.get("implementation") or "").rsplit(".", 1)[-1] or None,
                "concurrency": pool.get("max-concurrency"),
            },
            "active": active if active is not None else counts.get(states.STARTED, 0),
            "reserved": counts.get(states.RECEIVED, 0),
            "processed": processed if processed is not None else sum(total.values()),
            "loadavg": worker.loadavg if worker is not None else None,
            "queues": list(node.queues) if node is not None else [],
            "heartbeat": heartbeat,
            "freq": worker.freq if worker is not None else None,
            "software": _software(worker, stats),
            "pid": (worker.pid if worker is not None else None) or stats.get("pid"),
            "prefetch_count": stats.get("prefetch_count"),
            "uptime": stats.get("uptime"),
            "replied": node.seen if node is not None else None,
            "registered": len(node.registered) if node is not None else None,
        }

    # -- queues and names --------------------------------------------------------------

    def queue_names(self) -> set[str]:
        """Declared queues, the default one, those the workers consume, and dead letters."""
        names = set(self.app.router.queues) | {self.app.conf.task_default_queue}
        for node in self.inspector.nodes().values():
            names.update(node.queues)
        for _, task in self.monitor.state.tasks_by_time(limit=2000):
            if task.queue:
                names.add(task.queue)
        names.add(DEAD_LETTER_QUEUE)
        return names

    def queue_rows(self) -> list[dict[str, Any]]:
        """One row per queue: length, consumers and the recent lengths."""
        consumers: dict[str, list[str]] = {}
        for name, node in self.inspector.nodes().items():
            for queue in node.queues:
                consumers.setdefault(queue, []).append(name)
        lengths = self.queue_watch.lengths()
        return [
            {
                "name": name,
                "length": lengths.get(name),
                "consumers": sorted(consumers.get(name, [])),
                "history": [[t, n] for t, n in self.queue_watch.points(name)],
                "dead_letter": name == DEAD_LETTER_QUEUE,
            }
            for name in sorted(
                set(lengths) | set(consumers), key=lambda n: (n == DEAD_LETTER_QUEUE, n)
            )
        ]

    def task_names(self) -> list[str]:
        """Task names for the send form: registered here, on the workers, or seen."""
        names = set(self.app.tasks.regular()) | self.inspector.task_names()
        names.update(self.monitor.types.names())
        return sorted(names)

    # -- overview and metrics ----------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Small numbers for the header and the live stream."""
        by_state: dict[str, int] = {}
        for _, task in self.monitor.state.tasks_by_time():
            by_state[task.state] = by_state.get(task.state, 0) + 1
        workers = self.workers()
        lengths = [n for n in self.queue_watch.lengths().values() if n is not None]
        totals = dict.fromkeys(("received", "succeeded", "failed", "retried", "revoked"), 0)
        for row in self.monitor.types.rows():
            for key in totals:
                totals[key] += int(row[key])
        return {
            "workers": {"online": sum(w["online"] for w in workers), "total": len(workers)},
            "tasks": by_state,
            "totals": totals,
            "queued": sum(lengths),
            "events": self.monitor.state.event_count,
            "now": self.clock(),
        }

    def overview(self) -> dict[str, Any]:
        """The overview page: summary, charts, task types and recent failures."""
        failures: list[Task] = [
            task for _, task in self.monitor.state.tasks_by_time() if task.state == states.FAILURE
        ][:RECENT_FAILURES]
        return {
            **self.summary(),
            "series": self.monitor.series.points(),
            "bucket_seconds": self.monitor.series.bucket_seconds,
            "types": self.monitor.types.rows()[:TYPES_SHOWN],
            "failures": [task_row(task) for task in failures],
        }

    def collect_metrics(self) -> None:
        """Refresh the gauges right before a scrape."""
        workers = self.workers()
        self.metrics.set_workers({w["hostname"]: w["online"] for w in workers})
        self.metrics.set_worker_tasks(
            {w["hostname"]: w["reserved"] for w in workers},
            {w["hostname"]: w["active"] for w in workers},
        )
        self.metrics.set_queue_lengths(
            {q: n for q, n in self.queue_watch.lengths().items() if n is not None}
        )
