"""From raw samples to the Markdown table: medians, ranges, ratios, targets."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Samples = list[float]


def percentile(values: Samples, pct: int) -> float:
    """The ``pct``-th percentile (inclusive method: p50 is the median)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def summary(values: Samples) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass(frozen=True)
class Row:
    """One table row: where its samples come from, and the target it is checked against."""

    label: str
    sections: tuple[str, ...]  # the raw results lists its samples come from
    pick: Callable[[dict[str, Any]], float]
    digits: int = 0
    target: str = ""
    # (celeriac median, Celery median or None, all summaries) -> met?
    check: Callable[[float, float | None, dict[str, Any]], bool] | None = None


def _ratio_at_least(factor: float) -> Callable[[float, float | None, dict[str, Any]], bool]:
    return lambda ours, theirs, _: theirs is not None and ours >= factor * theirs


def _ratio_at_most(factor: float) -> Callable[[float, float | None, dict[str, Any]], bool]:
    return lambda ours, theirs, _: theirs is not None and ours <= factor * theirs


def _enqueue_met(ours: float, theirs: float | None, found: dict[str, Any]) -> bool:
    ceiling = found.get("lpush")
    return (
        theirs is not None
        and ours >= 2.5 * theirs
        and ceiling is not None
        and ours >= 0.8 * ceiling["median"]
    )


def _events_met(ours: float, theirs: float | None, found: dict[str, Any]) -> bool:
    without = found.get("drain")
    return without is not None and ours >= 0.9 * without["median"]


def _latency(pct: int) -> Callable[[dict[str, Any]], float]:
    return lambda run: percentile(run["latency"]["ms"], pct)


ROWS = [
    Row(
        "enqueue, one `delay()` at a time (tasks/s)",
        ("drain", "drain_warning"),
        lambda r: r["enqueue"]["rate"],
        target=">= 2.5x Celery and >= 80% of LPUSH",
        check=_enqueue_met,
    ),
    Row("raw LPUSH of 500 bytes, one client (ops/s): the ceiling", ("lpush",), lambda r: r["rate"]),
    Row(
        "message size in the queue (bytes)",
        ("drain", "drain_warning"),
        lambda r: r["enqueue"]["entry_bytes"],
    ),
    Row(
        "bulk enqueue, `group` of 10,000 (tasks/s)",
        ("bulk",),
        lambda r: r["rate"],
        target=">= 10x Celery",
        check=_ratio_at_least(10),
    ),
    Row(
        "drain 10,000, worker start to last (tasks/s)",
        ("drain",),
        lambda r: r["drain"]["rate_start"],
    ),
    Row(
        "drain 10,000, first to last (tasks/s)",
        ("drain",),
        lambda r: r["drain"]["rate_first"],
        target=">= 10x Celery",
        check=_ratio_at_least(10),
    ),
    Row(
        "worker CPU per 1,000 tasks (s)",
        ("drain",),
        lambda r: r["drain"]["cpu_s_per_1000"],
        digits=3,
        target="<= 1/8 of Celery's",
        check=_ratio_at_most(1 / 8),
    ),
    Row(
        "Redis server CPU per 1,000 tasks during the drain (s)",
        ("drain",),
        lambda r: r["drain"]["redis_cpu_s_per_1000"],
        digits=3,
    ),
    Row(
        "drain at `-l WARNING`, start to last (tasks/s)",
        ("drain_warning",),
        lambda r: r["drain"]["rate_start"],
    ),
    Row(
        "drain at `-l WARNING`, first to last (tasks/s)",
        ("drain_warning",),
        lambda r: r["drain"]["rate_first"],
        target="(>= 10x Celery)",
        check=_ratio_at_least(10),
    ),
    Row(
        "worker CPU per 1,000 tasks at `-l WARNING` (s)",
        ("drain_warning",),
        lambda r: r["drain"]["cpu_s_per_1000"],
        digits=3,
        target="(<= 1/8 of Celery's)",
        check=_ratio_at_most(1 / 8),
    ),
    Row(
        "drain with task events (`-E`), first to last (tasks/s)",
        ("drain_events",),
        lambda r: r["drain"]["rate_first"],
        target=">= 90% of the drain without `-E`",
        check=_events_met,
    ),
    Row(
        "worker CPU per 1,000 tasks with `-E` (s)",
        ("drain_events",),
        lambda r: r["drain"]["cpu_s_per_1000"],
        digits=3,
    ),
    Row(
        "latency `add.delay(2, 2).get()` p50 (ms)",
        ("results",),
        _latency(50),
        digits=2,
        target="<= 0.3x Celery's",
        check=_ratio_at_most(0.3),
    ),
    Row("latency p90 (ms)", ("results",), _latency(90), digits=2),
    Row("latency p99 (ms)", ("results",), _latency(99), digits=2),
    Row(
        "chord of 1,000 `add` + `xsum` (s)",
        ("results",),
        lambda r: r["chord"]["seconds"],
        digits=2,
        target="<= 0.15x Celery's",
        check=_ratio_at_most(0.15),
    ),
    Row(
        "chain of 100 `add` (s)",
        ("results",),
        lambda r: r["chain"]["seconds"],
        digits=3,
        target="<= 0.25x Celery's",
        check=_ratio_at_most(0.25),
    ),
    Row(
        "worker RSS after the drain, main + children (MiB)",
        ("drain",),
        lambda r: r["memory"]["rss_kib"] / 1024,
        digits=1,
        target="<= Celery's",
        check=_ratio_at_most(1),
    ),
    Row(
        "worker PSS after the drain (MiB; shared pages split)",
        ("drain",),
        lambda r: r["memory"]["pss_kib"] / 1024,
        digits=1,
    ),
    Row(
        "idle worker CPU (% of one core, 10 s)",
        ("idle",),
        lambda r: r["cpu_percent"],
        digits=2,
        target="< 1%",
        check=lambda ours, _, __: ours < 1,
    ),
    Row(
        "idle worker: commands sent to Redis per second",
        ("idle",),
        lambda r: r["commands_per_s"],
        digits=1,
        target="<= 1 (broker reached at most every 1 s)",
        check=lambda ours, _, __: ours <= 1,
    ),
    Row(
        "SQLite broker: enqueue, one `delay()` at a time (tasks/s)",
        ("sqlite",),
        lambda r: r["enqueue"]["rate"],
    ),
    Row(
        "SQLite broker: drain 10,000, first to last (tasks/s)",
        ("sqlite",),
        lambda r: r["drain"]["rate_first"],
        target=">= 2,000",
        check=lambda ours, _, __: ours >= 2000,
    ),
    Row(
        "SQLite broker: worker CPU per 1,000 tasks (s)",
        ("sqlite",),
        lambda r: r["drain"]["cpu_s_per_1000"],
        digits=3,
    ),
    Row(
        "SQLite broker + backend: latency p50 (ms)",
        ("sqlite",),
        _latency(50),
        digits=2,
        target="<= 5 ms",
        check=lambda ours, _, __: ours <= 5,
    ),
    Row("SQLite broker + backend: latency p90 (ms)", ("sqlite",), _latency(90), digits=2),
]

_DRAIN_ROW = next(row for row in ROWS if row.label.startswith("drain 10,000, first"))

# Rows measured once for both frameworks (they are shown in both columns).
SHARED_SECTIONS = {"lpush"}
CELERIAC_ONLY_SECTIONS = {"sqlite"}


def _samples(raw: dict[str, Any], framework: str, row: Row) -> Samples:
    runs: list[dict[str, Any]] = []
    for section in row.sections:
        if section in SHARED_SECTIONS:
            runs += raw.get(section, [])
        elif section in CELERIAC_ONLY_SECTIONS:
            runs += raw.get(section, []) if framework == "celeriac" else []
        else:
            runs += raw.get(framework, {}).get(section, [])
    values = []
    for run in runs:
        try:
            values.append(float(row.pick(run)))
        except (KeyError, TypeError, ValueError):
            continue
    return values


def _cell(found: dict[str, float] | None, digits: int) -> str:
    if found is None:
        return "-"

    def fmt(value: float) -> str:
        return f"{value:,.{digits}f}"

    if found["min"] == found["max"]:
        return fmt(found["median"])
    return f"{fmt(found['median'])} ({fmt(found['min'])}-{fmt(found['max'])})"


def summarize(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Each row's summaries for both frameworks, its ratio and whether its target is met."""
    lpush = summary(_samples(raw, "celeriac", ROWS[1]))
    drain = summary(_samples(raw, "celeriac", _DRAIN_ROW))
    rows = []
    for row in ROWS:
        ours = summary(_samples(raw, "celeriac", row))
        theirs = summary(_samples(raw, "celery", row))
        ratio = None
        if (
            ours
            and theirs
            and theirs["median"] > 0
            and not SHARED_SECTIONS.intersection(row.sections)
        ):
            ratio = ours["median"] / theirs["median"]
        met = None
        if row.check is not None and ours is not None:
            found = {"lpush": lpush, "drain": drain}
            met = row.check(ours["median"], theirs["median"] if theirs else None, found)
        rows.append(
            {
                "label": row.label,
                "digits": row.digits,
                "celeriac": ours,
                "celery": theirs,
                "ratio": ratio,
                "target": row.target,
                "met": met,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table: medians with (min-max) over the repetitions."""
    lines = [
        "| measurement | celeriac | Celery | celeriac/Celery | target | met |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for row in rows:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        met = {None: "", True: "yes", False: "**no**"}[row["met"]]
        lines.append(
            f"| {row['label']} | {_cell(row['celeriac'], row['digits'])} | "
            f"{_cell(row['celery'], row['digits'])} | {ratio} | {row['target']} | {met} |"
        )
    return "\n".join(lines) + "\n"
