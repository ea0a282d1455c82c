"""The terminal monitor's lines, as plain strings (no curses)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from celeriac.events import State
from celeriac.events._monitor_format import (
    abbr,
    by_status,
    clean,
    column_widths,
    detail_lines,
    format_header,
    format_row,
    format_time,
    outcome,
    summary,
    worker_line,
    workers_title,
)
from celeriac.events.state import Task, Worker

UUID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def task_from(*events: Mapping[str, object]) -> Task:
    state = State()
    for fields in events:
        state.event({"hostname": "w1@box", "uuid": UUID, "timestamp": 1000.0, **fields})
    return state.tasks[UUID]


def test_abbr_cuts_with_an_ellipsis() -> None:
    assert abbr("proj.add", 20) == "proj.add"
    assert abbr("proj.tasks.add", 10) == "proj.ta..."
    assert abbr("proj", 2) == "pr"
    assert abbr("proj", 0) == ""


def test_clean_keeps_one_printable_line() -> None:
    assert clean("a\nb\tc") == "a b c"
    assert clean((1, "x")) == "(1, 'x')"
    assert clean("é ok") == "é ok"


@pytest.mark.parametrize("width", [30, 40, 60, 80, 100, 120, 200])
def test_columns_always_fit(width: int) -> None:
    columns = column_widths(width)
    assert sum(size for _, size in columns) + len(columns) - 1 <= width
    assert [c.title for c, _ in columns][:2] == ["STATE", "NAME"]
    assert len(format_header(columns)) <= width


def test_narrow_screens_give_up_args_then_worker_then_time() -> None:
    def titles(width: int) -> list[str]:
        return [column.title for column, _ in column_widths(width)]

    assert titles(120) == ["STATE", "NAME", "UUID", "ARGS", "RESULT", "WORKER", "TIME"]
    assert titles(60) == ["STATE", "NAME", "UUID", "RESULT", "WORKER", "TIME"]
    assert titles(45) == ["STATE", "NAME", "UUID", "RESULT"]
    assert titles(20) == ["STATE", "NAME"]


def test_a_wide_screen_shows_the_whole_uuid() -> None:
    sizes = dict((column.title, size) for column, size in column_widths(120))
    assert sizes["UUID"] == 36
    assert sizes["NAME"] > sizes["WORKER"]


def test_a_narrow_uuid_column_shows_the_uuid_prefix() -> None:
    columns = column_widths(79)
    assert dict((column.title, size) for column, size in columns)["UUID"] == 8
    row = format_row(task_from({"type": "task-received", "name": "proj.add"}), columns, 0.0)
    assert row.split()[:3] == ["RECEIVED", "proj.add", UUID[:8]]


def test_format_time_is_local_hh_mm_ss() -> None:
    assert format_time(None) == ""
    assert format_time(0.0) == time.strftime("%H:%M:%S", time.localtime(0.0))


def test_outcome_by_state() -> None:
    received = {"type": "task-received", "name": "proj.add", "args": "(2, 2)"}
    running = task_from(received, {"type": "task-started", "timestamp": 1000.0})
    assert outcome(running, now=1002.5) == "running 2.5s"
    done = task_from(received, {"type": "task-succeeded", "result": "4", "runtime": 0.125})
    assert outcome(done, now=2000.0) == "4 (0.12s)"
    failed = task_from(received, {"type": "task-failed", "exception": "KeyError('k')"})
    assert outcome(failed, now=2000.0) == "KeyError('k')"
    assert outcome(task_from(received), now=2000.0) == ""


def test_format_row_lines_up_with_the_header() -> None:
    task = task_from(
        {"type": "task-received", "name": "proj.add", "args": "(2, 2)"},
        {"type": "task-succeeded", "result": "4", "runtime": 0.5},
    )
    columns = column_widths(120)
    row, header = format_row(task, columns, now=0.0), format_header(columns)
    assert len(row) == len(header)
    assert row.split()[:4] == ["SUCCESS", "proj.add", UUID, "(2,"]
    assert row.index("w1@box") == header.index("WORKER")
    assert row.index("4 (0.50s)") == header.index("RESULT")
    assert row.rstrip().endswith(format_time(1000.0))


def test_worker_line_and_summary() -> None:
    worker = Worker("w1@box")
    worker.update(
        {"type": "worker-heartbeat", "active": 2, "processed": 9, "loadavg": [1, 0.5, 0.25]}
    )
    assert worker_line(worker) == ("ONLINE   w1@box  active: 2  processed: 9  load: 1.00 0.50 0.25")
    gone = Worker("w2@box")
    gone.update({"type": "worker-offline"})
    assert worker_line(gone) == "OFFLINE  w2@box"
    assert summary(12, 3, [worker, gone]) == "events: 12  tasks: 3  workers: 1/2 online"


def test_workers_panel_lists_online_workers_first() -> None:
    workers = [Worker(name) for name in ("c@box", "b@box", "a@box")]
    for worker in workers[:2]:
        worker.update({"type": "worker-online"})
    assert [w.hostname for w in by_status(workers)] == ["b@box", "c@box", "a@box"]
    assert workers_title(3, 3) == "Workers"
    assert workers_title(9, 5) == "Workers (5 of 9 shown)"


def test_details_list_every_field_then_the_traceback() -> None:
    task = task_from(
        {"type": "task-received", "name": "proj.add", "args": "(2, 2)", "kwargs": "{}"},
        {"type": "task-failed", "exception": "ValueError('x')", "traceback": "Trace\n  line\n"},
    )
    lines = detail_lines(task, 80)
    labels = [label.strip() for label, _ in lines if label.strip()]
    assert labels[:7] == ["uuid:", "name:", "state:", "worker:", "args:", "kwargs:", "exception:"]
    assert "received:" in labels and "failed:" in labels
    assert labels[-1] == "traceback:"
    assert [text for label, text in lines if not label] == ["Trace", "  line"]
    values = {label.strip(): text for label, text in lines}
    assert values["state:"] == "FAILURE"
    assert values["received:"] == f"{format_time(1000.0)}  (1000.000)"


def test_details_wrap_long_values_under_their_label() -> None:
    task = task_from({"type": "task-received", "name": "n", "args": "x" * 50})
    lines = detail_lines(task, 30)
    args_at = next(i for i, (label, _) in enumerate(lines) if label.startswith("args:"))
    first, rest = lines[args_at], lines[args_at + 1]
    assert len(first[0]) + len(first[1]) <= 30
    assert rest[0].strip() == "" and rest[1].startswith("x")
    assert "".join(text for _, text in lines[args_at : args_at + 3]).startswith("x" * 50)
