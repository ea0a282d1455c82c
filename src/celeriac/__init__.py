"""celeriac: a distributed task queue that speaks Celery.

Change ``celery`` to ``celeriac`` in imports and command lines; the API, settings,
wire format and command line are Celery 5.x's.
"""

from __future__ import annotations

# First: `celeriac worker -P gevent|eventlet` patches the standard library before any
# other import (a no-op for every other program); see _internal/greenpatch.py.
from celeriac._internal.greenpatch import patch_for_command_line

patch_for_command_line()

from typing import Any

from celeriac import states
from celeriac.app.base import Celery
from celeriac.app.routing import Exchange, Queue
from celeriac.app.shared import shared_task
from celeriac.app.task import Task
from celeriac.canvas import (
    Signature,
    chain,
    chord,
    chunks,
    group,
    maybe_signature,
    signature,
    subtask,
    xmap,
    xstarmap,
)
from celeriac.result import AsyncResult, EagerResult, GroupResult, ResultSet

__version__ = "0.1.0"

__all__ = [
    "AsyncResult",
    "Celery",
    "EagerResult",
    "Exchange",
    "GroupResult",
    "Queue",
    "ResultSet",
    "Signature",
    "Task",
    "__version__",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "current_task",
    "group",
    "maybe_signature",
    "shared_task",
    "signature",
    "states",
    "subtask",
    "xmap",
    "xstarmap",
]


def __getattr__(name: str) -> Any:
    # ``current_app``/``current_task`` are read when asked for, not bound at import.
    from celeriac import _state

    if name == "current_app":
        return _state.get_current_app()
    if name == "current_task":
        running = _state.current_task_and_request()
        return running[0] if running else None
    raise AttributeError(f"module 'celeriac' has no attribute {name!r}")
