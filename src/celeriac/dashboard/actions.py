"""What the dashboard's buttons do: retry, revoke, send, resize a pool, rate-limit.

Each action checks its input (``ValueError`` for bad input, :class:`TaskNotFound` for an
unknown task: the HTTP layer answers 400 and 404), then calls the app's public API
(``send_task``, ``app.control``) and returns a JSON-ready summary with the workers'
replies. These calls block for up to ``timeout`` seconds while replies come in.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from celeriac.app.control import flatten_reply
from celeriac.dashboard.views import jsonable, read_meta

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.dashboard.monitor import ClusterMonitor

__all__ = [
    "TaskNotFound",
    "parse_rate_limit",
    "resize_pool",
    "retry_task",
    "revoke_task",
    "send_task",
    "set_rate_limit",
]

_RATE = re.compile(r"^\d+(\.\d+)?(/[smh])?$")
_SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")
_MAX_POOL_STEP = 1000


class TaskNotFound(LookupError):
    """Neither the events nor the result backend know this task id."""


def _replies(replies: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {node: jsonable(reply) for node, reply in flatten_reply(replies or []).items()}


def _literal(text: Any, what: str, kind: type) -> Any:
    if isinstance(text, kind):
        return text
    if not isinstance(text, str):
        raise ValueError(f"the {what} are not known")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(
            f"the {what} are only known as {text!r}; turn on result_extended "
            "to keep them in the result backend"
        ) from exc
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        raise ValueError(f"the {what} {text!r} are not a {kind.__name__}")
    return value


def _call_of(app: Celery, monitor: ClusterMonitor, task_id: str) -> dict[str, Any]:
    """Name, args, kwargs and queue of a task, from the backend first, then events."""
    meta = read_meta(app, task_id) or {}
    task = monitor.state.tasks.get(task_id)
    name = meta.get("name") or (task.name if task is not None else None)
    if not name:
        if task is None and not meta:
            raise TaskNotFound(f"no task {task_id} in events or in the result backend")
        raise ValueError(f"the name of task {task_id} is not known")
    args = meta["args"] if meta.get("args") is not None else (task.args if task else None)
    kwargs = meta["kwargs"] if meta.get("kwargs") is not None else (task.kwargs if task else None)
    queue = meta.get("queue") or (task.queue or task.routing_key if task is not None else None)
    return {
        "name": str(name),
        "args": _literal(args if args is not None else "()", "arguments", list),
        "kwargs": _literal(kwargs if kwargs is not None else "{}", "keyword arguments", dict),
        "queue": queue,
    }


def retry_task(app: Celery, monitor: ClusterMonitor, task_id: str) -> dict[str, Any]:
    """Send the task again by name, with the same arguments, as a new task."""
    call = _call_of(app, monitor, task_id)
    return send_task(app, monitor, call["name"], call["args"], call["kwargs"], queue=call["queue"])


def send_task(
    app: Celery,
    monitor: ClusterMonitor,
    name: Any,
    args: Any = None,
    kwargs: Any = None,
    *,
    queue: Any = None,
    countdown: Any = None,
) -> dict[str, Any]:
    """Send task ``name`` (need not be registered here); return its new id."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a task name is required")
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list):
        raise ValueError("args must be a JSON list")
    if not isinstance(kwargs, dict):
        raise ValueError("kwargs must be a JSON object")
    options: dict[str, Any] = {}
    if queue:
        options["queue"] = str(queue)
    if countdown not in (None, ""):
        try:
            options["countdown"] = float(countdown)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"countdown must be a number of seconds, not {countdown!r}") from exc
    result = app.send_task(name.strip(), args, kwargs, **options)
    monitor.note_sent(result.id, name.strip(), args, kwargs, options.get("queue"))
    return {"task_id": result.id, "name": name.strip()}


def revoke_task(
    app: Celery, task_id: str, *, terminate: bool = False, signal: Any = "SIGTERM", timeout: float
) -> dict[str, Any]:
    """Revoke the task everywhere (durably); with ``terminate``, also kill it if running."""
    signal_name = str(signal or "SIGTERM").upper()
    if not signal_name.startswith("SIG"):
        signal_name = "SIG" + signal_name
    if signal_name not in _SIGNALS:
        raise ValueError(f"signal must be one of {', '.join(_SIGNALS)}")
    replies = app.control.revoke(
        task_id, terminate=bool(terminate), signal=signal_name, reply=True, timeout=timeout
    )
    return {"task_id": task_id, "terminate": bool(terminate), "replies": _replies(replies)}


def resize_pool(
    app: Celery, hostname: str, *, action: Any, n: Any = 1, timeout: float
) -> dict[str, Any]:
    """Grow or shrink one worker's pool by ``n`` processes or threads."""
    if action not in ("grow", "shrink"):
        raise ValueError("action must be 'grow' or 'shrink'")
    try:
        step = int(n)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"n must be a whole number, not {n!r}") from exc
    if not 1 <= step <= _MAX_POOL_STEP:
        raise ValueError(f"n must be between 1 and {_MAX_POOL_STEP}")
    replies = app.control.broadcast(
        f"pool_{action}", arguments={"n": step}, destination=[hostname], reply=True, timeout=timeout
    )
    return {"worker": hostname, "action": action, "n": step, "replies": _replies(replies)}


def parse_rate_limit(value: Any) -> str | None:
    """``"10/m"``, ``"5"``, ``"0.5/s"`` as given; empty or ``0`` means no limit (``None``)."""
    text = "" if value is None else str(value).strip()
    if text in ("", "0", "none", "None"):
        return None
    if not _RATE.match(text):
        raise ValueError(f"rate limit must look like 10/s, 10/m or 10/h, not {text!r}")
    return text


def set_rate_limit(
    app: Celery, task_name: Any, rate_limit: Any, *, worker: Any = None, timeout: float
) -> dict[str, Any]:
    """Set a task's rate limit on one worker, or on all of them."""
    if not isinstance(task_name, str) or not task_name.strip():
        raise ValueError("a task name is required")
    rate = parse_rate_limit(rate_limit)
    destination = [str(worker)] if worker else None
    replies = app.control.rate_limit(
        task_name.strip(), rate, destination=destination, reply=True, timeout=timeout
    )
    return {"task_name": task_name.strip(), "rate_limit": rate, "replies": _replies(replies)}
