"""The task registry of one app: names to tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import NotRegistered

if TYPE_CHECKING:
    from celeriac.app.task import Task

__all__ = ["TaskRegistry"]


class TaskRegistry(dict[str, "Task[Any, Any]"]):
    """A ``dict`` of task name to task that raises :class:`NotRegistered` on a miss."""

    def __missing__(self, key: str) -> Task[Any, Any]:
        raise NotRegistered(key)

    def register(self, task: Task[Any, Any]) -> None:
        """Add ``task`` under its name."""
        self[task.name] = task

    def unregister(self, name: str) -> None:
        """Remove the task called ``name``."""
        try:
            del self[name]
        except KeyError as exc:
            raise NotRegistered(name) from exc

    def regular(self) -> Iterator[str]:
        """Names of the user's tasks (not celeriac's built-in ``celery.*`` ones)."""
        return (name for name in sorted(self) if not name.startswith("celery."))
