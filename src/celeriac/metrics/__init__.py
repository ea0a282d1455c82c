"""Prometheus metrics: the text format, celeriac's metric families, and a tiny server.

The text exposition format (version 0.0.4) is small, so it is written here by hand: the
worker can serve ``--metrics-port`` with the standard library only, and the dashboard
serves the same text at ``/metrics``.

- :class:`Counter`, :class:`Gauge`, :class:`Histogram`, :class:`Registry`
  (``metrics/exposition.py``): labelled metrics and their text.
- :class:`TaskMetrics` (``metrics/tasks.py``): the ``celeriac_*`` families, fed by
  explicit calls (a worker's hooks) or by monitoring events
  (:meth:`TaskMetrics.observe_event`).
- :class:`MetricsServer` (``metrics/server.py``): ``GET /metrics`` in a daemon thread.
"""

from celeriac.metrics.exposition import (
    CONTENT_TYPE,
    DEFAULT_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    escape_label,
    format_value,
)
from celeriac.metrics.server import MetricsServer
from celeriac.metrics.tasks import EVENT_STATES, RUNTIME_BUCKETS, TaskMetrics

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "EVENT_STATES",
    "RUNTIME_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "MetricsServer",
    "Registry",
    "TaskMetrics",
    "escape_label",
    "format_value",
]
