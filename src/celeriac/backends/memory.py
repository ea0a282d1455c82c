"""An in-process result backend for tests: ``cache+memory://`` or ``memory://``.

Each instance has its own storage (a dict guarded by a ``threading.Condition``); nothing
is shared between instances or kept at module level, so two backends built from the same
URL do not see each other's results. Share the instance instead (the app does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, final

from celeriac.backends.base import ResultBackend

__all__ = ["MemoryBackend"]


@dataclass(frozen=True, slots=True)
class _Stored:
    value: bytes
    is_ready: bool
    expires_at: float | None  # time.monotonic() deadline

    def is_live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@final
class MemoryBackend(ResultBackend):
    """A result backend keeping results in this instance's memory.

    Args:
        url: The URL it was built from, for display.
        serializer: The result serializer name.
        accept: Content types accepted when reading.
        expires: Seconds a ready result lives; ``None`` keeps it.
        extended: Whether to store name, args, kwargs, worker, retries and queue.

    """

    def __init__(
        self,
        *,
        url: str = "cache+memory://",
        serializer: str = "json",
        accept: Iterable[str] = ("json",),
        expires: float | None = 86400.0,
        extended: bool = False,
    ) -> None:
        super().__init__(
            url, serializer=serializer, accept=accept, expires=expires, extended=extended
        )
        self._condition = threading.Condition()
        self._data: dict[str, _Stored] = {}
        # Bumped on every change; each thread remembers the value its last get saw.
        self._version = 0
        self._seen = threading.local()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryBackend:
        """Build a backend from ``cache+memory://`` or ``memory://``.

        Args:
            url: The URL.
            **options: :class:`~celeriac.backends.base.ResultBackend` keyword options.

        """
        return cls(url=url, **options)

    def get(self, key: str) -> bytes | None:
        """Return the stored value of ``key``; ``None`` if missing or expired."""
        with self._condition:
            self._seen.version = self._version
            stored = self._data.get(key)
        if stored is None or not stored.is_live(time.monotonic()):
            return None
        return stored.value

    def set(self, key: str, value: bytes, *, ttl: float | None, is_ready: bool) -> None:
        """Store ``value``; a non-ready value never replaces a live ready one."""
        now = time.monotonic()
        with self._condition:
            current = self._data.get(key)
            if current is not None and current.is_ready and not is_ready and current.is_live(now):
                return
            self._data[key] = _Stored(value, is_ready, None if ttl is None else now + ttl)
            self._changed()

    def incr(self, key: str, *, ttl: float | None) -> int:
        """Add one to the counter ``key``; return the new value."""
        now = time.monotonic()
        with self._condition:
            current = self._data.get(key)
            count = int(current.value) + 1 if current is not None and current.is_live(now) else 1
            self._data[key] = _Stored(str(count).encode(), True, None if ttl is None else now + ttl)
            self._changed()
            return count

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._condition:
            if self._data.pop(key, None) is not None:
                self._changed()

    def wait_for_change(self, key: str, timeout: float) -> None:
        """Return once anything changed since this thread's last :meth:`get`, or on timeout."""
        with self._condition:
            baseline = getattr(self._seen, "version", self._version)
            self._condition.wait_for(lambda: self._version != baseline, timeout)

    def cleanup(self) -> None:
        """Delete expired results."""
        now = time.monotonic()
        with self._condition:
            for key in [k for k, stored in self._data.items() if not stored.is_live(now)]:
                del self._data[key]

    def _changed(self) -> None:
        self._version += 1
        self._condition.notify_all()
