"""``--metrics-port``: a worker serving Prometheus metrics about itself.

For clusters without a dashboard. The families and their text are
:mod:`celeriac.metrics`' (the dashboard serves the same ones at ``/metrics``):

- :class:`MetricsHook` counts tasks by state and name, and succeeded tasks' runtimes,
  as the consumer reports them on the main loop. A prefork child's outcome comes back
  there too, so every pool is counted the same way, and a task costs a few counter
  updates, nothing more.
- The gauges (tasks prefetched and running, the consumed queues' lengths, online) are
  read when Prometheus scrapes, from lengths the worker keeps anyway.
- The HTTP server is :class:`celeriac.metrics.MetricsServer`, a standard-library thread:
  it answers even while a ``solo`` task holds the event loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from celeriac import states
from celeriac.exceptions import CeleriacError, ImproperlyConfigured
from celeriac.metrics import MetricsServer, TaskMetrics
from celeriac.worker.hooks import Hook

if TYPE_CHECKING:
    from celeriac.protocol import TaskMessage
    from celeriac.worker.execute import Outcome
    from celeriac.worker.worker import Worker

__all__ = ["MetricsHook", "WorkerMetrics"]

logger = logging.getLogger(__name__)

#: Outcomes counted under their own state (a message that could not be decoded is not).
_COUNTED = frozenset(
    (states.SUCCESS, states.FAILURE, states.RETRY, states.REJECTED, states.IGNORED)
)


def _name(message: TaskMessage) -> str:
    """The name events report (the shadow name when the task was sent with one)."""
    return message.shadow or message.name


class MetricsHook(Hook):
    """Counts each task's states in ``metrics``, labelled with this worker's name."""

    def __init__(self, metrics: TaskMetrics, hostname: str) -> None:
        self.metrics = metrics
        self.hostname = hostname

    def on_received(self, message: TaskMessage) -> None:
        """``RECEIVED``."""
        self.metrics.task_state(states.RECEIVED, _name(message), self.hostname)

    def on_started(self, message: TaskMessage) -> None:
        """``STARTED``."""
        self.metrics.task_state(states.STARTED, _name(message), self.hostname)

    def on_finished(
        self, message: TaskMessage, outcome: Outcome | None, error: BaseException | None
    ) -> None:
        """The outcome's state (``FAILURE`` when the pool lost the task); a runtime."""
        if error is not None or outcome is None:
            self.metrics.task_state(states.FAILURE, _name(message), self.hostname)
        elif outcome.state in _COUNTED:
            runtime = outcome.runtime if outcome.state == states.SUCCESS else None
            self.metrics.task_state(outcome.state, _name(message), self.hostname, runtime)

    def on_revoked(self, message: TaskMessage, *, expired: bool, signum: int | None = None) -> None:
        """``REVOKED`` (refused, expired, or terminated while running)."""
        self.metrics.task_state(states.REVOKED, _name(message), self.hostname)


def _checked_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ImproperlyConfigured(
            f"worker_metrics_port must be a port number from 0 to 65535, not {port!r}"
        )
    return port


class WorkerMetrics:
    """The metrics of one worker and the server that shows them.

    Args:
        worker: The worker measured.
        port: The TCP port (0 picks a free one; the log says which).
        address: The interface to listen on.

    Raises:
        ImproperlyConfigured: ``port`` is not a port number.
    """

    def __init__(self, worker: Worker, *, port: int, address: str) -> None:
        self.worker = worker
        self.metrics = TaskMetrics()
        self.hook = MetricsHook(self.metrics, worker.hostname)
        self.server = MetricsServer(
            self.metrics.registry, port=_checked_port(port), address=address
        )
        self.metrics.registry.add_collector(self.collect)

    @classmethod
    def configure(
        cls, worker: Worker, port: int | None, address: str | None
    ) -> WorkerMetrics | None:
        """From the command line's values, else the settings; ``None`` when no port is set."""
        conf = worker.app.conf
        port = conf.worker_metrics_port if port is None else port
        if port is None:
            return None
        return cls(worker, port=port, address=address or conf.worker_metrics_address)

    def open(self) -> None:
        """Bind the port, so a taken one stops the worker before anything else starts.

        Raises:
            ImproperlyConfigured: the port is taken or the address is not this host's.
        """
        try:
            self.server.open()
        except OSError as exc:
            where = f"{self.server.address}:{self.server.port}"
            reason = exc.strerror or str(exc)
            raise ImproperlyConfigured(f"cannot serve metrics on {where}: {reason}") from exc

    def start(self) -> None:
        """Serve ``GET /metrics`` (binding first if :meth:`open` was not called)."""
        self.open()
        self.server.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.stop()

    def collect(self) -> None:
        """Refresh the gauges (on the server's thread, right before a scrape).

        Until the consumer exists the broker may not be connected: no queue lengths yet.
        """
        host, consumer = self.worker.hostname, self.worker.consumer
        if consumer is None:
            self.metrics.set_worker_tasks({host: 0}, {host: 0})
            self.metrics.set_workers({host: False})
            return
        held, active = consumer.held(), len(consumer.active)  # lengths: safe off the loop
        self.metrics.set_worker_tasks({host: max(held - active, 0)}, {host: active})
        self.metrics.set_workers({host: not consumer.is_stopping()})
        self.metrics.set_queue_lengths(self._queue_lengths(list(consumer.queues)))

    def _queue_lengths(self, queues: list[str]) -> dict[str, int]:
        lengths: dict[str, int] = {}
        broker = self.worker.app.broker
        for queue in queues:
            try:
                lengths[queue] = broker.size(queue)
            except CeleriacError as exc:  # a broker that cannot say: the queue is left out
                logger.debug("Metrics: cannot size queue %s: %s", queue, exc)
        return lengths
