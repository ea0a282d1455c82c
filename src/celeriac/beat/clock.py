"""The clock beat reads and waits on, injectable so schedule tests never sleep."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol, final

__all__ = ["Clock", "FakeClock", "SystemClock"]

UTC = dt.timezone.utc


class Clock(Protocol):
    """What beat needs from time: the current instant, and a wait that can be cut short."""

    def now(self) -> dt.datetime:
        """The current time, aware, in UTC."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``event``; return whether it is set."""
        ...


@final
class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        """The current time, aware, in UTC."""
        return dt.datetime.now(UTC)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block on ``event`` for up to ``timeout`` seconds."""
        return event.wait(max(timeout, 0.0))


@final
class FakeClock:
    """A clock that only moves when told to; waiting moves it instead of sleeping.

    Args:
        start: The initial time (naive values are UTC).
    """

    def __init__(self, start: dt.datetime) -> None:
        self._now = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """The current fake time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> dt.datetime:
        """Move time forward by ``seconds``; return the new time."""
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            return self._now

    def set(self, moment: dt.datetime) -> None:
        """Jump to ``moment``."""
        with self._lock:
            self._now = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Advance by ``timeout`` at once (unless ``event`` is already set)."""
        if not event.is_set():
            self.advance(max(timeout, 0.0))
        return event.is_set()
