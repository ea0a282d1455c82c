"""The pool contract: run a function somewhere and report back.

The worker hands a pool at most ``limit`` jobs at a time (it counts them itself) and
is told about each one through the ``on_done`` callback, which a pool may call from any
thread. A job that raises reports the exception instead of a value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ["DoneCallback", "Pool"]

#: Called once per job with ``(value, None)`` or ``(None, exception)``.
DoneCallback = Callable[[Any, BaseException | None], None]


class Pool(ABC):
    """Base class of every pool.

    Args:
        concurrency: How many jobs may run at once.
    """

    #: The name shown in the banner, e.g. ``threads``.
    name: str = ""
    #: Whether jobs run in the caller's thread (the worker then yields between jobs).
    is_inline: bool = False

    def __init__(self, *, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.concurrency = concurrency

    @property
    def limit(self) -> int:
        """How many jobs the worker may hand over at once."""
        return self.concurrency

    def start(self) -> None:
        """Create threads or processes."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], on_done: DoneCallback) -> None:
        """Run ``fn(*args)`` and report its outcome to ``on_done``."""

    @abstractmethod
    def stop(self, *, wait: bool) -> None:
        """Stop; with ``wait`` let running jobs finish first."""

    def info(self) -> dict[str, Any]:
        """What ``inspect stats`` shows under ``pool``."""
        return {"implementation": type(self).__module__, "max-concurrency": self.concurrency}
