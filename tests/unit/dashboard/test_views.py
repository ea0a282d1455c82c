"""Task rows, filters, detail and workflow graphs, from events and the result backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from celeriac import Celery, states
from celeriac.brokers.memory import MemoryBroker
from celeriac.dashboard.views import child_ids, filter_tasks, read_meta, task_detail, workflow_graph
from celeriac.events import Event
from celeriac.events.state import State


@pytest.fixture
def app() -> Iterator[Celery]:
    name = f"views-{uuid.uuid4().hex}"
    app = Celery("v", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    app.conf.result_extended = True
    yield app
    MemoryBroker.reset(name)
    app.close()


def feed(state: State, *events: dict[str, Any]) -> None:
    for stamp, event in enumerate(events):
        event.setdefault("timestamp", 1000.0 + stamp)
        state.event(event)


def lifecycle(task_id: str, name: str, *, ok: bool = True, **fields: Any) -> list[dict[str, Any]]:
    events = [
        Event(
            "task-received",
            uuid=task_id,
            name=name,
            args="(1, 2)",
            kwargs="{}",
            hostname="w1",
            **fields,
        ),
        Event("task-started", uuid=task_id, hostname="w1"),
    ]
    if ok:
        events.append(Event("task-succeeded", uuid=task_id, result="3", runtime=0.5, hostname="w1"))
    else:
        events.append(
            Event(
                "task-failed",
                uuid=task_id,
                exception="KeyError('x')",
                traceback="TB",
                hostname="w1",
            )
        )
    return events


def test_filter_by_state_name_worker_and_search() -> None:
    state = State()
    feed(state, *lifecycle("aaaa-1", "proj.add"), *lifecycle("bbbb-2", "proj.mul", ok=False))
    feed(
        state,
        Event("task-received", uuid="cccc-3", name="proj.add", args="('needle',)", hostname="w2"),
    )
    assert filter_tasks(state)[0] == 3
    total, rows = filter_tasks(state, task_state=states.FAILURE)
    assert total == 1 and rows[0]["uuid"] == "bbbb-2" and rows[0]["result"] == "KeyError('x')"
    assert [r["uuid"] for r in filter_tasks(state, name="proj.add")[1]] == ["cccc-3", "aaaa-1"]
    assert [r["uuid"] for r in filter_tasks(state, worker="w2")[1]] == ["cccc-3"]
    assert [r["uuid"] for r in filter_tasks(state, search="bbbb")[1]] == ["bbbb-2"]
    assert [r["uuid"] for r in filter_tasks(state, search="NEEDLE")[1]] == ["cccc-3"]
    total, rows = filter_tasks(state, limit=1)
    assert total == 3 and len(rows) == 1


def test_long_cells_are_clipped() -> None:
    state = State()
    feed(state, Event("task-received", uuid="x", name="t", args="(" + "9" * 500 + ",)"))
    row = filter_tasks(state)[1][0]
    assert len(row["args"]) == 200 and row["args"].endswith("…")


def test_child_ids_reads_celerys_tuples_and_flattens_groups() -> None:
    children = [
        [["a", None], None],
        [["g", None], [[["b", None], None], [["c", None], None]]],
        "d",
        5,
    ]
    assert child_ids(children) == ["a", "b", "c", "d"]


def test_detail_merges_events_and_backend(app: Celery) -> None:
    state = State()
    feed(state, *lifecycle("t1", "proj.add"))
    request = SimpleNamespace(task="proj.add", args=[1, 2], kwargs={}, hostname="w1", children=[])
    app.backend.mark_as_done("t1", 3, request=request)
    detail = task_detail(app, state, "t1")
    assert detail is not None
    assert detail["sources"] == ["events", "backend"]
    assert detail["state"] == states.SUCCESS and detail["result"] == "3"
    assert detail["args_json"] == [1, 2]
    assert [e["type"] for e in detail["events"]] == [
        "task-received",
        "task-started",
        "task-succeeded",
    ]
    assert detail["events"][-1]["runtime"] == 0.5


def test_detail_from_backend_only_and_missing(app: Celery) -> None:
    state = State()
    try:
        raise ValueError("stored failure")
    except ValueError as exc:
        app.backend.mark_as_failure("t2", exc, traceback="Traceback: here")
    detail = task_detail(app, state, "t2")
    assert detail is not None
    assert detail["sources"] == ["backend"] and detail["state"] == states.FAILURE
    assert "stored failure" in detail["exception"] and detail["traceback"] == "Traceback: here"
    assert detail["events"] == []
    assert task_detail(app, state, "nope") is None
    assert read_meta(app, "nope") is None


def test_backend_that_finished_overrides_a_stale_live_state(app: Celery) -> None:
    state = State()
    feed(state, Event("task-received", uuid="t3", name="proj.add", hostname="w1"))
    app.backend.mark_as_done("t3", 3)
    detail = task_detail(app, state, "t3")
    assert detail is not None and detail["state"] == states.SUCCESS


def test_disabled_backend_reads_nothing() -> None:
    app = Celery("nobackend", broker="memory://", set_as_current=False)
    try:
        assert read_meta(app, "x") is None
        assert task_detail(app, State(), "x") is None
    finally:
        app.close()


def test_graph_from_live_events_of_a_chain() -> None:
    state = State()
    feed(
        state,
        *lifecycle("root", "a"),
        *lifecycle("mid", "b", parent_id="root", root_id="root"),
        *lifecycle("leaf", "c", parent_id="mid", root_id="root"),
        *lifecycle("other", "d"),
    )
    graph = workflow_graph(state, "mid", lambda _: None)
    assert {n["id"] for n in graph["nodes"]} == {"root", "mid", "leaf"}
    assert graph["edges"] == [["mid", "leaf"], ["root", "mid"]]
    assert [n["id"] for n in graph["nodes"] if n["current"]] == ["mid"]


def test_graph_reads_parents_and_children_the_dashboard_missed() -> None:
    stored = {
        "p": {"status": "SUCCESS", "name": "first", "children": [[["x", None], None]]},
        "x": {
            "status": "SUCCESS",
            "name": "second",
            "parent_id": "p",
            "children": [[["g", None], [[["y", None], None], [["z", None], None]]]],
        },
        "y": {"status": "FAILURE", "parent_id": "x"},
        "z": {"status": "SUCCESS", "parent_id": "x"},
    }
    reads: list[str] = []

    def read(task_id: str) -> dict[str, Any] | None:
        reads.append(task_id)
        return stored.get(task_id)

    graph = workflow_graph(State(), "x", read)
    assert {n["id"]: n["state"] for n in graph["nodes"]} == {
        "x": "SUCCESS",
        "p": "SUCCESS",
        "y": "FAILURE",
        "z": "SUCCESS",
    }
    assert graph["edges"] == [["p", "x"], ["x", "y"], ["x", "z"]]
    assert sorted(reads) == ["p", "x", "y", "z"]
