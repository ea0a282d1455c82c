"""Celery's built-in tasks that canvas helpers send by name (``celery.map`` ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac.canvas import Signature, chunks, maybe_signature

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["register_builtins"]


def _local_task(app: Celery, task: Any) -> Any:
    sig = maybe_signature(task, app)
    if sig is None:
        raise TypeError(f"not a signature: {task!r}")
    return app.tasks[sig.task]


def register_builtins(app: Celery) -> None:
    """Register ``celery.map``, ``celery.starmap``, ``celery.chunks``, ``celery.accumulate``."""

    @app.task(name="celery.map", shared=False)
    def xmap(task: Any, it: list[Any]) -> list[Any]:
        run = _local_task(app, task)
        return [run(item) for item in it]

    @app.task(name="celery.starmap", shared=False)
    def xstarmap(task: Any, it: list[Any]) -> list[Any]:
        run = _local_task(app, task)
        return [run(*item) for item in it]

    @app.task(name="celery.chunks", shared=False)
    def apply_chunks(task: Any, it: list[Any], n: int) -> None:
        sig = maybe_signature(task, app)
        if not isinstance(sig, Signature):
            raise TypeError(f"not a signature: {task!r}")
        chunks(sig, it, n).apply_async()

    @app.task(name="celery.accumulate", shared=False)
    def accumulate(*args: Any, **kwargs: Any) -> Any:
        index = kwargs.get("index")
        return args[index] if index is not None else args
