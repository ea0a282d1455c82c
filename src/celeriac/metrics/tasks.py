"""celeriac's metric families: tasks by state, runtimes, queues, workers."""

from __future__ import annotations

from typing import Any

from celeriac.metrics.exposition import DEFAULT_BUCKETS, Counter, Gauge, Histogram, Registry

__all__ = ["EVENT_STATES", "RUNTIME_BUCKETS", "TaskMetrics"]

#: Task runtime histogram buckets, in seconds: from a no-op task to a ten-minute job.
RUNTIME_BUCKETS = (*DEFAULT_BUCKETS, 30.0, 60.0, 120.0, 300.0, 600.0)
#: Task event type -> the state counted in ``celeriac_tasks_total``.
EVENT_STATES = {
    "task-sent": "SENT",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-retried": "RETRY",
    "task-revoked": "REVOKED",
    "task-rejected": "REJECTED",
}


class TaskMetrics:
    """celeriac's metric families, registered in ``registry``.

    Attributes:
        tasks: ``celeriac_tasks_total{name,state,worker}``: tasks reaching each state.
        runtime: ``celeriac_task_runtime_seconds{name,worker}``: runtimes of finished tasks.
        queue_length: ``celeriac_queue_length{queue}``: messages waiting in each queue.
        prefetched: ``celeriac_worker_prefetched_tasks{worker}``: received, not started.
        active: ``celeriac_worker_active_tasks{worker}``: tasks running now.
        worker_online: ``celeriac_worker_online{worker}``: 1 online, 0 offline.
        workers_online: ``celeriac_workers_online``: how many workers are online.
    """

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        self.tasks = Counter(
            "celeriac_tasks_total",
            "Tasks that reached a state, by task name, state and worker.",
            ("name", "state", "worker"),
        )
        self.runtime = Histogram(
            "celeriac_task_runtime_seconds",
            "Time tasks took to run, by task name and worker.",
            ("name", "worker"),
            buckets=RUNTIME_BUCKETS,
        )
        self.queue_length = Gauge(
            "celeriac_queue_length", "Messages waiting in a queue.", ("queue",)
        )
        self.prefetched = Gauge(
            "celeriac_worker_prefetched_tasks",
            "Tasks a worker received but has not started.",
            ("worker",),
        )
        self.active = Gauge(
            "celeriac_worker_active_tasks", "Tasks a worker is running.", ("worker",)
        )
        self.worker_online = Gauge(
            "celeriac_worker_online", "Whether a worker is online (1) or not (0).", ("worker",)
        )
        self.workers_online = Gauge("celeriac_workers_online", "Workers online.")
        for metric in (
            self.tasks,
            self.runtime,
            self.queue_length,
            self.prefetched,
            self.active,
            self.worker_online,
            self.workers_online,
        ):
            self.registry.register(metric)

    def task_state(
        self, state: str, name: str | None, worker: str | None, runtime: float | None = None
    ) -> None:
        """Count one task reaching ``state``; a ``runtime`` also goes into the histogram."""
        task_name, node = name or "unknown", worker or ""
        self.tasks.inc(name=task_name, state=state, worker=node)
        if runtime is not None and runtime >= 0:
            self.runtime.observe(runtime, name=task_name, worker=node)

    def observe_event(self, event: dict[str, Any], name: str | None = None) -> None:
        """Count one ``task-*`` event (``name`` when the event itself lacks it)."""
        state = EVENT_STATES.get(str(event.get("type")))
        if state is None:
            return
        runtime = event.get("runtime") if state == "SUCCESS" else None
        self.task_state(
            state,
            event.get("name") or name,
            event.get("hostname"),
            float(runtime) if isinstance(runtime, int | float) else None,
        )

    def set_queue_lengths(self, lengths: dict[str, int]) -> None:
        """Replace the queue lengths."""
        self.queue_length.replace({(queue,): float(n) for queue, n in lengths.items()})

    def set_workers(self, online: dict[str, bool]) -> None:
        """Replace the workers' online flags and the online count."""
        self.worker_online.replace({(w,): 1.0 if up else 0.0 for w, up in online.items()})
        self.workers_online.set(sum(online.values()))

    def set_worker_tasks(self, prefetched: dict[str, int], active: dict[str, int]) -> None:
        """Replace the prefetched and active task counts per worker."""
        self.prefetched.replace({(w,): float(n) for w, n in prefetched.items()})
        self.active.replace({(w,): float(n) for w, n in active.items()})

    def render(self) -> str:
        """The registry's text."""
        return self.registry.render()
