"""The Prometheus text exposition format (0.0.4), written by hand: metrics and a registry.

- :class:`Counter`, :class:`Gauge`, :class:`Histogram`: labelled metrics, thread-safe.
- :class:`Registry`: the metrics of one endpoint; collectors refresh gauges (queue
  lengths, workers online) right before each scrape.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
    "escape_label",
    "format_value",
]

logger = logging.getLogger(__name__)

#: The Content-Type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Prometheus' usual buckets, in seconds.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (``+Inf``, ``NaN``, ``3.0``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def escape_label(value: str) -> str:
    r"""A label value with ``\``, ``"`` and newlines escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


class _Metric:
    """What every metric has: a name, a help text, label names, a lock."""

    kind = "untyped"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._labelset = frozenset(self.labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, Any]) -> Labels:
        # On every task a worker counts: no sets built, no generator.
        if labels.keys() != self._labelset:
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {tuple(labels)}")
        return tuple([str(labels[name]) for name in self.labelnames])

    def samples(self) -> list[tuple[str, str, float]]:
        """(suffixed name, label text, value) for every sample."""
        raise NotImplementedError

    def render(self) -> str:
        """The family in the text format: HELP, TYPE and one line per sample."""
        lines = [
            f"# HELP {self.name} {_escape_help(self.documentation)}",
            f"# TYPE {self.name} {self.kind}",
        ]
        lines += [f"{name}{labels} {format_value(value)}" for name, labels, value in self.samples()]
        return "\n".join(lines) + "\n"


class Counter(_Metric):
    """A value that only goes up (name it ``..._total``)."""

    kind = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        """Add ``amount`` (not negative) to the sample with these labels."""
        if amount < 0:
            raise ValueError("counters only go up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: Any) -> float:
        """The current value of one sample (0 when never incremented)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[tuple[str, str, float]]:
        """Every sample, labels sorted."""
        with self._lock:
            items = sorted(self._values.items())
        return [(self.name, _label_text(self.labelnames, key), value) for key, value in items]


class Gauge(_Metric):
    """A value that goes up and down; :meth:`replace` swaps all samples at once."""

    kind = "gauge"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[Labels, float] = {}

    def set(self, value: float, **labels: Any) -> None:
        """Set the sample with these labels."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        """Add ``amount`` (negative to subtract)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def replace(self, values: dict[Labels, float]) -> None:
        """Make these the only samples (label values in :attr:`labelnames` order)."""
        for key in values:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}")
        with self._lock:
            self._values = dict(values)

    def value(self, **labels: Any) -> float:
        """The current value of one sample (0 when never set)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[tuple[str, str, float]]:
        """Every sample, labels sorted."""
        with self._lock:
            items = sorted(self._values.items())
        return [(self.name, _label_text(self.labelnames, key), value) for key, value in items]


class Histogram(_Metric):
    """Observations counted into cumulative ``le`` buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        if "le" in labelnames:
            raise ValueError("'le' is reserved for histogram buckets")
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(sorted(float(b) for b in buckets if not math.isinf(b)))
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, value: float, **labels: Any) -> None:
        """Count one observation."""
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[index] += 1
                    break
            else:
                counts[-1] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: Any) -> int:
        """How many observations carry these labels."""
        with self._lock:
            return sum(self._counts.get(self._key(labels), []))

    def samples(self) -> list[tuple[str, str, float]]:
        """``_bucket`` (cumulative, ``le`` last), ``_sum`` and ``_count`` per label set."""
        with self._lock:
            items = sorted(
                (key, list(counts), self._sums[key]) for key, counts in self._counts.items()
            )
        out: list[tuple[str, str, float]] = []
        names = (*self.labelnames, "le")
        for key, counts, total in items:
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = format_value(bound)
                out.append((f"{self.name}_bucket", _label_text(names, (*key, le)), running))
            plain = _label_text(self.labelnames, key)
            out.append((f"{self.name}_sum", plain, total))
            out.append((f"{self.name}_count", plain, running))
        return out


class Registry:
    """The metrics of one endpoint, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []
        self._collectors: list[Callable[[], None]] = []

    def register(self, metric: _Metric) -> None:
        """Add ``metric`` (its name must be new here)."""
        if any(m.name == metric.name for m in self._metrics):
            raise ValueError(f"a metric named {metric.name} is already registered")
        self._metrics.append(metric)

    def add_collector(self, collect: Callable[[], None]) -> None:
        """Call ``collect`` before each render (to refresh gauges from live sources)."""
        self._collectors.append(collect)

    def render(self) -> str:
        """Every metric in the text format (a failing collector is logged and skipped)."""
        for collect in self._collectors:
            try:
                collect()
            except Exception:  # a scrape must not fail because one source did
                logger.exception("Metrics collector %r failed", collect)
        return "".join(metric.render() for metric in self._metrics)
