"""The ``solo`` pool: jobs run one at a time in the worker's own thread."""

from __future__ import annotations

from typing import Any, final

from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["SoloPool"]


@final
class SoloPool(Pool):
    """Runs each job inline; concurrency is always 1."""

    name = "solo"
    is_inline = True

    def __init__(
        self, *, concurrency: int = 1, target: Target, options: PoolOptions | None = None
    ) -> None:
        super().__init__(concurrency=1, target=target, options=options)

    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> None:
        """Run the job now (time limits are not enforced in the worker's own thread)."""
        self.run_here(payload, on_done)

    def stop(self, *, wait: bool) -> None:
        """Nothing runs in the background, so there is nothing to stop."""
