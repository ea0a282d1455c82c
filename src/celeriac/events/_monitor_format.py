"""What the terminal monitor shows, as plain strings: columns, rows, details, workers.

Nothing here touches curses, so every line the monitor draws can be checked in a unit
test. Widths are in terminal cells; text is cut to fit, never wrapped, except in the
details view.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celeriac import states
from celeriac.events.state import Task, Worker

__all__ = [
    "Column",
    "abbr",
    "by_status",
    "clean",
    "column_widths",
    "detail_lines",
    "format_header",
    "format_row",
    "format_time",
    "outcome",
    "summary",
    "worker_line",
    "workers_title",
]

ELLIPSIS = "..."
UUID_WIDTH = 36


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the task list and how it grows with the terminal.

    Attributes:
        title: The heading.
        minimum: The narrowest it is shown.
        comfortable: The width it grows to first, before the uuid gets its 36 cells.
        weight: Its share of the room left after that.
    """

    title: str
    minimum: int
    comfortable: int
    weight: int


_COLUMNS = (
    Column("STATE", 8, 8, 0),
    Column("NAME", 8, 20, 3),
    Column("UUID", 8, 8, 0),
    Column("ARGS", 6, 10, 2),
    Column("RESULT", 10, 16, 2),
    Column("WORKER", 8, 12, 1),
    Column("TIME", 8, 8, 0),
)
# Columns given up, in this order, when the terminal is too narrow for all of them.
_DROP_ORDER = ("ARGS", "WORKER", "TIME", "RESULT", "UUID")
# Task fields the details view lists first; the rest follow in the model's order.
_DETAIL_FIRST = ("uuid", "name", "state", "worker", "args", "kwargs", "result", "exception")
_DETAIL_TIMES = ("sent", "received", "started", "succeeded", "failed", "retried", "revoked")
_DETAIL_SKIPPED = ("traceback", "clock", "timestamp", "rejected")


def clean(value: Any) -> str:
    """``value`` as one line of printable text (newlines and tabs become spaces)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " for ch in text)


def abbr(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, ending in ``...`` when something was cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width <= len(ELLIPSIS):
        return text[:width]
    return text[: width - len(ELLIPSIS)] + ELLIPSIS


def column_widths(width: int) -> list[tuple[Column, int]]:
    """The columns that fit in ``width`` cells (one space between two) and their widths."""
    columns = list(_COLUMNS)
    for title in _DROP_ORDER:
        if _needed(columns) <= width:
            break
        columns = [column for column in columns if column.title != title]
    sizes = {column.title: column.minimum for column in columns}
    spare = max(0, width - _needed(columns))
    wanted = {c.title: c.comfortable - c.minimum for c in columns if c.comfortable > c.minimum}
    if wanted:
        room = min(spare, sum(wanted.values()))
        grown = {title: room * want // sum(wanted.values()) for title, want in wanted.items()}
        grown["NAME"] = grown.get("NAME", 0) + room - sum(grown.values())
        for title, grow in grown.items():
            sizes[title] += grow
        spare -= room
    if "UUID" in sizes:
        grow = min(spare, UUID_WIDTH - sizes["UUID"])
        sizes["UUID"] += grow
        spare -= grow
    total_weight = sum(column.weight for column in columns)
    if total_weight and spare:
        shares = {c.title: spare * c.weight // total_weight for c in columns}
        shares["NAME"] = shares.get("NAME", 0) + spare - sum(shares.values())
        for title, share in shares.items():
            sizes[title] += share
    return [(column, sizes[column.title]) for column in columns]


def _needed(columns: Sequence[Column]) -> int:
    return sum(column.minimum for column in columns) + max(0, len(columns) - 1)


def _join(cells: Sequence[tuple[str, int]]) -> str:
    return " ".join(abbr(text, size).ljust(size) for text, size in cells)


def format_header(columns: Sequence[tuple[Column, int]]) -> str:
    """The column titles, laid out as :func:`format_row` lays out a task."""
    return _join([(column.title, size) for column, size in columns])


def format_time(timestamp: float | None) -> str:
    """``HH:MM:SS`` in local time, or an empty string."""
    if timestamp is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def outcome(task: Task, now: float) -> str:
    """The result of a finished task, its exception, or how long it has been running."""
    if task.state == states.SUCCESS:
        runtime = f" ({task.runtime:.2f}s)" if task.runtime is not None else ""
        return f"{clean(task.result)}{runtime}" if task.result is not None else runtime.strip()
    if task.state in (states.FAILURE, states.RETRY) and task.exception is not None:
        return clean(task.exception)
    if task.state == states.STARTED and task.started is not None:
        return f"running {max(0.0, now - task.started):.1f}s"
    return ""


def format_row(task: Task, columns: Sequence[tuple[Column, int]], now: float) -> str:
    """One task as a line of the list."""
    uuid_width = next((size for column, size in columns if column.title == "UUID"), 0)
    values = {
        "STATE": task.state,
        "NAME": clean(task.name or "?"),
        "UUID": task.uuid[:uuid_width],  # a cut uuid is a usable prefix: no ellipsis
        "ARGS": clean(task.args) if task.args is not None else "",
        "RESULT": outcome(task, now),
        "WORKER": task.worker.hostname if task.worker else "",
        "TIME": format_time(task.timestamp),
    }
    return _join([(values[column.title], size) for column, size in columns])


def worker_line(worker: Worker) -> str:
    """``ONLINE  w1@host  active: 1  processed: 10  load: 0.1 0.2 0.3``."""
    parts = [worker.status_string.ljust(7), worker.hostname]
    if worker.active is not None:
        parts.append(f"active: {worker.active}")
    if worker.processed is not None:
        parts.append(f"processed: {worker.processed}")
    if worker.loadavg:
        parts.append("load: " + " ".join(f"{load:.2f}" for load in worker.loadavg))
    if worker.sw_ident:
        parts.append(f"{worker.sw_ident} {worker.sw_ver or ''}".strip())
    return "  ".join(parts)


def by_status(workers: Sequence[Worker]) -> list[Worker]:
    """Online workers first, then offline ones, each by hostname."""
    return sorted(workers, key=lambda worker: (not worker.alive, worker.hostname))


def workers_title(seen: int, shown: int) -> str:
    """``Workers``, or ``Workers (5 of 9 shown)`` when the panel is too small for all."""
    return f"Workers ({shown} of {seen} shown)" if shown < seen else "Workers"


def summary(event_count: int, task_count: int, workers: Sequence[Worker]) -> str:
    """``events: 12  tasks: 3  workers: 1/2 online``."""
    alive = sum(1 for worker in workers if worker.alive)
    return f"events: {event_count}  tasks: {task_count}  workers: {alive}/{len(workers)} online"


def detail_lines(task: Task, width: int) -> list[tuple[str, str]]:
    """The details view of ``task``: ``(label, text)`` lines wrapped to ``width`` cells.

    Every known field is listed (empty ones left out), times as local ``HH:MM:SS``,
    then the traceback line by line under a ``traceback`` label.
    """
    fields = task.as_dict()
    fields["worker"] = task.worker.hostname if task.worker else None
    ordered = [*_DETAIL_FIRST, *(key for key in fields if key not in _DETAIL_FIRST)]
    label_width = max(len(key) for key in ordered) + 2
    text_width = max(10, width - label_width)
    lines: list[tuple[str, str]] = []
    for key in ordered:
        value = fields.get(key)
        if value is None or value == "" or key in _DETAIL_SKIPPED:
            continue
        if key in _DETAIL_TIMES:
            text = f"{format_time(value)}  ({value:.3f})"
        elif key == "runtime":
            text = f"{value:.3f}s"
        else:
            text = clean(value)
        wrapped = textwrap.wrap(text, text_width, drop_whitespace=False) or [""]
        lines.append((f"{key}:".ljust(label_width), wrapped[0]))
        lines.extend(("".ljust(label_width), rest) for rest in wrapped[1:])
    if task.traceback:
        lines.append(("traceback:", ""))
        for line in task.traceback.rstrip("\n").splitlines():
            chunks = textwrap.wrap(line.expandtabs(), width, drop_whitespace=False) or [""]
            lines.extend(("", clean(chunk)) for chunk in chunks)
    return lines
