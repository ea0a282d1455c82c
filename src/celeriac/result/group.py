"""Results of several tasks: :class:`ResultSet`, :class:`GroupResult`, and stored tuples."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from celeriac import _state
from celeriac.result.single import AsyncResult, assert_will_not_block

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.backends.base import ResultBackend

__all__ = ["GroupResult", "ResultSet", "result_from_tuple"]


class ResultSet:
    """Several results read together; ``get``/``join`` return values in order.

    Args:
        results: The results, in the order their values are wanted.
        app: The app whose backend holds them.
    """

    def __init__(self, results: list[AsyncResult[Any]], *, app: Celery | None = None) -> None:
        self.results = list(results)
        self.app = app or (self.results[0].app if self.results else _state.get_current_app())

    def __iter__(self) -> Any:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> AsyncResult[Any]:
        return self.results[index]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: [{', '.join(r.id for r in self.results)}]>"

    def ready(self) -> bool:
        """Whether every result is ready."""
        return all(result.ready() for result in self.results)

    def successful(self) -> bool:
        """Whether every task succeeded."""
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        """Whether any task failed."""
        return any(result.failed() for result in self.results)

    def waiting(self) -> bool:
        """Whether any task is not ready yet."""
        return not self.ready()

    def completed_count(self) -> int:
        """How many tasks succeeded."""
        return sum(1 for result in self.results if result.successful())

    def _raise_if_failed(self) -> None:
        for result in self.results:
            result._raise_if_failed()

    def revoke(
        self,
        connection: Any = None,
        terminate: bool = False,
        signal: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Revoke every task of the set (see :meth:`AsyncResult.revoke`)."""
        self.app.control.revoke(
            [result.id for result in self.results],
            terminate=terminate,
            signal=signal or "SIGTERM",
            reply=wait,
            timeout=timeout or 1.0,
        )

    def forget(self) -> None:
        """Delete every stored result."""
        for result in self.results:
            result.forget()

    def join(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[Any]:
        """Wait for every result; return the values in order.

        Raises:
            TimeoutError: ``timeout`` seconds passed before all were ready.
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(
                result.get(
                    timeout=remaining,
                    propagate=propagate,
                    interval=interval,
                    disable_sync_subtasks=False,
                )
            )
        return values

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        disable_sync_subtasks: bool = True,
        **_: Any,
    ) -> list[Any]:
        """Same as :meth:`join`."""
        return self.join(timeout, propagate, interval, disable_sync_subtasks)

    join_native = join

    async def aget(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        **_: Any,
    ) -> list[Any]:
        """Like :meth:`join`, for ``async`` code (``await group_result`` too)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(
                await result.aget(timeout=remaining, propagate=propagate, interval=interval)
            )
        return values

    def __await__(self) -> Generator[Any, None, list[Any]]:
        return self.aget().__await__()


class GroupResult(ResultSet):
    """The results of a group, under the group's id.

    Args:
        id: The group id.
        results: Member results, in group order.
        parent: The result this group's tasks were chained after, if any.
        app: The app whose backend holds them.
    """

    def __init__(
        self,
        id: str,
        results: list[AsyncResult[Any]],
        *,
        parent: AsyncResult[Any] | None = None,
        app: Celery | None = None,
    ) -> None:
        super().__init__(results, app=app)
        self.id = id
        self.parent = parent

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResult):
            return other.id == self.id and other.results == self.results
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def children(self) -> list[AsyncResult[Any]]:
        """The member results."""
        return self.results

    def as_tuple(self) -> tuple[tuple[str, Any], list[Any]]:
        """The ``[[id, parent], [children]]`` form stored in a parent's ``children``."""
        return (self.id, None), [result.as_tuple() for result in self.results]

    def save(self, backend: ResultBackend | None = None) -> None:
        """Store the group so :meth:`restore` can find it by id."""
        (backend or self.app.backend).save_group(self.id, [r.id for r in self.results])

    def delete(self, backend: ResultBackend | None = None) -> None:
        """Remove the saved group."""
        (backend or self.app.backend).delete_group(self.id)

    @classmethod
    def restore(
        cls, id: str, backend: ResultBackend | None = None, app: Celery | None = None
    ) -> GroupResult | None:
        """The saved group ``id``, or ``None`` if it was never saved."""
        app = app or _state.get_current_app()
        ids = (backend or app.backend).restore_group(id)
        if ids is None:
            return None
        return cls(id, [app.AsyncResult(task_id) for task_id in ids], app=app)


def result_from_tuple(value: Any, app: Celery | None = None) -> AsyncResult[Any] | GroupResult:
    """A result from its stored tuple form: ``[[id, parent], None]`` or a group's."""
    head, nodes = value
    task_id, parent = head if isinstance(head, list | tuple) else (head, None)
    parent_result = result_from_tuple(parent, app) if parent else None
    if nodes is not None:
        members = [result_from_tuple(child, app) for child in nodes]
        return GroupResult(task_id, members, parent=parent_result, app=app)  # type: ignore[arg-type]
    result: AsyncResult[Any] = AsyncResult(task_id, app=app)
    result.parent = parent_result
    return result
