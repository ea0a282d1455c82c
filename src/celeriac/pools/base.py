"""The pool contract: run jobs somewhere and report back.

A pool is built with its ``target``, the function every job runs, and is then handed
*payloads*: ``submit(payload, on_done)`` runs ``target(payload)``. Only payloads and
return values cross into the place jobs run, so a process pool can fork after the
target exists (the child inherits it) and pickle nothing but payloads and outcomes.

The worker hands a pool at most ``limit`` jobs at a time (it counts them itself) and is
told about each one through ``on_done``, which a pool may call from any thread. A job
that raises reports the exception instead of a value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ["DoneCallback", "Pool", "Target"]

#: Called once per job with ``(value, None)`` or ``(None, exception)``.
DoneCallback = Callable[[Any, BaseException | None], None]
#: What every job runs: ``target(payload) -> value``.
Target = Callable[[Any], Any]


class Pool(ABC):
    """Base class of every pool.

    Args:
        concurrency: How many jobs may run at once.
        target: The function each job runs with its payload.
    """

    #: The name shown in the banner, e.g. ``threads``.
    name: str = ""
    #: Whether jobs run in the caller's thread (the worker then acks before submitting).
    is_inline: bool = False

    def __init__(self, *, concurrency: int, target: Target) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.concurrency = concurrency
        self.target = target

    @property
    def limit(self) -> int:
        """How many jobs the worker may hand over at once."""
        return self.concurrency

    def start(self) -> None:
        """Create threads or processes."""

    @abstractmethod
    def submit(self, payload: Any, on_done: DoneCallback) -> None:
        """Run ``target(payload)`` and report its outcome to ``on_done``."""

    @abstractmethod
    def stop(self, *, wait: bool) -> None:
        """Stop; with ``wait`` let running jobs finish first."""

    def run_here(self, payload: Any, on_done: DoneCallback) -> None:
        """Run one job in the calling thread and report it (shared by pool kinds)."""
        try:
            value = self.target(payload)
        except BaseException as exc:  # reported, not raised: the worker decides
            on_done(None, exc)
        else:
            on_done(value, None)

    def info(self) -> dict[str, Any]:
        """What ``inspect stats`` shows under ``pool``."""
        return {"implementation": type(self).__module__, "max-concurrency": self.concurrency}
