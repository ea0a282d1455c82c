"""The ``solo`` pool: jobs run one at a time in the worker's own thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

from celeriac.pools.base import DoneCallback, Pool

__all__ = ["SoloPool"]


@final
class SoloPool(Pool):
    """Runs each job inline; concurrency is always 1."""

    name = "solo"
    is_inline = True

    def __init__(self, *, concurrency: int = 1) -> None:
        super().__init__(concurrency=1)

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], on_done: DoneCallback) -> None:
        """Run ``fn(*args)`` now."""
        try:
            value = fn(*args)
        except BaseException as exc:  # reported, not raised: the caller decides
            on_done(None, exc)
        else:
            on_done(value, None)

    def stop(self, *, wait: bool) -> None:
        """Nothing runs in the background, so there is nothing to stop."""
