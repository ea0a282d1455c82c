"""``celeriac events --dump``: one line per event, in Celery's shape."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["Dumper", "humanize_type"]

_HUMAN_TYPES = {
    "worker-offline": "shutdown",
    "worker-online": "started",
    "worker-heartbeat": "heartbeat",
}
_NAMES_KEPT = 4095


def humanize_type(event_type: str) -> str:
    """``started`` for ``worker-online``, ``task succeeded`` for ``task-succeeded``."""
    lowered = event_type.lower()
    return _HUMAN_TYPES.get(lowered, lowered.replace("-", " "))


class Dumper:
    """Formats events as ``<host> [<UTC time>] <what>: <task> <k=v, ...>`` lines."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._task_names: OrderedDict[str, str] = OrderedDict()

    def on_event(self, event: dict[str, Any]) -> None:
        """Print one event."""
        fields = dict(event)
        timestamp = dt.datetime.fromtimestamp(float(fields.pop("timestamp")), dt.timezone.utc)
        kind = str(fields.pop("type")).lower()
        hostname = fields.pop("hostname", "")
        if kind.startswith("task-"):
            uuid = str(fields.pop("uuid", ""))
            if kind in ("task-received", "task-sent"):
                task = (
                    f"{fields.pop('name', '')}({uuid}) args={fields.pop('args', '')} "
                    f"kwargs={fields.pop('kwargs', '')}"
                )
                self._remember(uuid, task)
            else:
                task = self._task_names.get(uuid, "")
            rest = ", ".join(f"{key}={fields[key]}" for key in sorted(fields))
            sep = ":" if rest else ""
            self.say(f"{hostname} [{timestamp}] {humanize_type(kind)}{sep} {task} {rest}")
            return
        rest = ", ".join(f"{key}={fields[key]}" for key in sorted(fields))
        sep = ":" if rest else ""
        self.say(f"{hostname} [{timestamp}] {humanize_type(kind)}{sep} {rest}")

    def _remember(self, uuid: str, task: str) -> None:
        self._task_names[uuid] = task
        while len(self._task_names) > _NAMES_KEPT:
            self._task_names.popitem(last=False)
