"""What the pages show, as JSON-ready dicts: tasks, a task's detail and workflow graph.

Pure functions over the monitor's model and the result backend; the HTTP layer only
serializes what they return. A task the dashboard did not see live is read from the
result backend, and so are the parents and children of a workflow it missed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.backends.disabled import DisabledBackend
from celeriac.exceptions import CeleriacError

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.events.state import State, Task

__all__ = [
    "child_ids",
    "filter_tasks",
    "jsonable",
    "read_meta",
    "task_detail",
    "task_row",
    "workflow_graph",
]

logger = logging.getLogger(__name__)

#: Longest text shown in one table cell (args, kwargs, result).
CELL_CHARS = 200
#: Most tasks drawn in one workflow graph.
GRAPH_NODES = 120
#: Most result-backend reads made to draw one graph.
GRAPH_READS = 60
_EVENT_FIELDS = ("hostname", "runtime", "result", "exception", "retries", "eta", "reason")


def jsonable(value: Any) -> Any:
    """``value`` if JSON can carry it, else its ``repr``."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _text(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def task_row(task: Task) -> dict[str, Any]:
    """One line of the live task table."""
    failed = task.state in (states.FAILURE, states.RETRY)
    return {
        "uuid": task.uuid,
        "name": task.name,
        "state": task.state,
        "args": _text(task.args, CELL_CHARS),
        "kwargs": _text(task.kwargs, CELL_CHARS),
        "result": _text(task.exception if failed else task.result, CELL_CHARS),
        "worker": task.worker.hostname if task.worker else None,
        "queue": task.queue or task.routing_key,
        "sent": task.sent,
        "received": task.received,
        "started": task.started,
        "timestamp": task.timestamp,
        "runtime": task.runtime,
        "retries": task.retries,
        "root_id": task.root_id,
        "parent_id": task.parent_id,
    }


def filter_tasks(
    state: State,
    *,
    task_state: str | None = None,
    name: str | None = None,
    worker: str | None = None,
    search: str | None = None,
    limit: int = 500,
) -> tuple[int, list[dict[str, Any]]]:
    """How many tasks match, and the newest ``limit`` of them as table rows.

    ``search`` matches the start of a task id, or any part of its name, args or kwargs.
    """
    needle = (search or "").strip().lower()

    def matches(task: Task) -> bool:
        if task_state and task.state != task_state:
            return False
        if name and task.name != name:
            return False
        if worker and (task.worker is None or task.worker.hostname != worker):
            return False
        if needle:
            haystack = (task.name or "", str(task.args or ""), str(task.kwargs or ""))
            return task.uuid.startswith(needle) or any(needle in h.lower() for h in haystack)
        return True

    found = [task for _, task in state.tasks_by_time() if matches(task)]
    return len(found), [task_row(task) for task in found[:limit]]


def read_meta(app: Celery, task_id: str) -> dict[str, Any] | None:
    """The task's stored meta, or ``None`` when results are off, unreadable or absent."""
    backend = app.backend
    if isinstance(backend, DisabledBackend):
        return None
    try:
        meta = backend.get_task_meta(task_id)
    except CeleriacError as exc:
        logger.warning("Dashboard: cannot read the result of %s: %s", task_id, exc)
        return None
    if meta.get("status") == states.PENDING and meta.get("date_done") is None:
        return None  # Celery's answer for "nothing stored"
    return meta


def child_ids(children: Iterable[Any]) -> list[str]:
    """Task ids in a meta's ``children`` (``[[id, parent], None]``, groups flattened)."""
    found: list[str] = []
    for item in children or ():
        if isinstance(item, str):
            found.append(item)
            continue
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        head, members = item
        if members:
            found.extend(child_ids(members))
        elif isinstance(head, list | tuple) and head:
            found.append(str(head[0]))
        elif isinstance(head, str):
            found.append(head)
    return found


def _date(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _timeline(task: Task | None) -> list[dict[str, Any]]:
    if task is None:
        return []
    return [
        {
            "type": event.get("type"),
            "timestamp": event.get("timestamp"),
            **{k: jsonable(event[k]) for k in _EVENT_FIELDS if event.get(k) is not None},
        }
        for event in sorted(task.events, key=lambda e: e.get("timestamp") or 0)
    ]


def _from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    failed = meta.get("status") in states.EXCEPTION_STATES
    fields: dict[str, Any] = {
        "state": meta.get("status"),
        "result": None if failed else _text(meta.get("result")),
        "exception": _text(meta.get("result")) if failed else None,
        "traceback": meta.get("traceback"),
        "date_done": _date(meta.get("date_done")),
        "parent_id": meta.get("parent_id"),
        "group_id": meta.get("group_id"),
        "children": child_ids(meta.get("children") or ()),
    }
    for key in ("name", "worker", "queue", "retries"):
        if meta.get(key) is not None:
            fields[key] = meta[key]
    for key in ("args", "kwargs"):
        if meta.get(key) is not None:
            fields[key] = _text(meta[key])
            fields[f"{key}_json"] = jsonable(meta[key])
    return {k: v for k, v in fields.items() if v is not None}


def task_detail(app: Celery, state: State, task_id: str) -> dict[str, Any] | None:
    """Everything known about one task, live events first, the result backend after."""
    task = state.tasks.get(task_id)
    meta = read_meta(app, task_id)
    if task is None and meta is None:
        return None
    detail: dict[str, Any] = {"uuid": task_id, "children": [], "sources": []}
    if task is not None:
        detail["sources"].append("events")
        detail.update({k: jsonable(v) for k, v in task.as_dict().items() if v is not None})
        detail["children"] = [uuid for uuid, t in state.tasks_by_time() if t.parent_id == task_id][
            ::-1
        ]
    if meta is not None:
        detail["sources"].append("backend")
        stored = _from_meta(meta)
        live_children = detail["children"]
        for key, value in stored.items():
            keep_live = task is not None and key in ("state", "worker") and detail.get(key)
            if not keep_live and (detail.get(key) is None or key in ("result", "traceback")):
                detail[key] = value
        detail["children"] = list(dict.fromkeys([*live_children, *stored.get("children", [])]))
        if task is not None and states.precedence(stored["state"]) < states.precedence(task.state):
            detail["state"] = stored["state"]  # the backend knows it finished
    detail["events"] = _timeline(task)
    detail["graph"] = workflow_graph(state, task_id, lambda i: read_meta(app, i))
    return detail


class _Graph:
    """Collects the nodes and edges of one workflow, reading the backend sparingly."""

    def __init__(self, state: State, read: Callable[[str], dict[str, Any] | None]) -> None:
        self.read = read
        self.reads = 0
        self.nodes: dict[str, dict[str, Any]] = {}
        self.stored_children: dict[str, list[str]] = {}
        self.edges: set[tuple[str, str]] = set()
        self.live = dict(reversed(state.tasks_by_time()))  # one consistent copy, oldest first
        self.kids_of: dict[str, list[str]] = {}
        for uuid, task in self.live.items():
            if task.parent_id:
                self.kids_of.setdefault(task.parent_id, []).append(uuid)

    def add(self, uuid: str) -> dict[str, Any] | None:
        """The node of ``uuid``, made on first sight (``None`` past the size limit)."""
        if uuid in self.nodes:
            return self.nodes[uuid]
        if len(self.nodes) >= GRAPH_NODES:
            return None
        task = self.live.get(uuid)
        node: dict[str, Any] = {"id": uuid, "name": None, "state": None, "parent": None}
        if task is not None:
            node.update(name=task.name, state=task.state, parent=task.parent_id)
        elif self.reads < GRAPH_READS:
            self.reads += 1
            meta = self.read(uuid) or {}
            node.update(
                name=meta.get("name"),
                state=meta.get("status", states.PENDING),
                parent=meta.get("parent_id"),
            )
            self.stored_children[uuid] = child_ids(meta.get("children") or ())
        self.nodes[uuid] = node
        return node

    def walk_up(self, task_id: str) -> None:
        """From ``task_id`` to its oldest known ancestor."""
        current: str | None = task_id
        while current and current not in self.nodes:
            node = self.add(current)
            parent = node.get("parent") if node else None
            if parent:
                self.edges.add((str(parent), current))
            current = str(parent) if parent else None

    def walk_down(self) -> None:
        """Breadth first through live and stored children of every node so far."""
        pending = deque(self.nodes)
        while pending:
            uuid = pending.popleft()
            stored = self.stored_children.get(uuid, [])
            for child in dict.fromkeys([*self.kids_of.get(uuid, []), *stored]):
                if child not in self.nodes and self.add(child) is not None:
                    pending.append(child)
                self.edges.add((uuid, child))
            parent = self.nodes[uuid].get("parent")
            if parent:
                self.edges.add((str(parent), uuid))

    def as_dict(self, task_id: str) -> dict[str, Any]:
        """``{"nodes": [...], "edges": [[parent, child], ...]}``, dangling edges dropped."""
        for node in self.nodes.values():
            node["current"] = node["id"] == task_id
        kept = sorted([a, b] for a, b in self.edges if a in self.nodes and b in self.nodes)
        return {"nodes": list(self.nodes.values()), "edges": kept}


def workflow_graph(
    state: State,
    task_id: str,
    read: Callable[[str], dict[str, Any] | None],
) -> dict[str, Any]:
    """The tasks of ``task_id``'s workflow (same root) and parent -> child edges.

    Live tasks come from ``state``; parents and children it lacks are read from the
    backend (``read``), breadth first, up to :data:`GRAPH_READS` reads.
    """
    graph = _Graph(state, read)
    graph.walk_up(task_id)
    start = graph.live.get(task_id)
    root = (start.root_id if start is not None else None) or task_id
    for uuid, task in graph.live.items():
        if root in (task.root_id, uuid):
            graph.add(uuid)
    graph.walk_down()
    return graph.as_dict(task_id)
