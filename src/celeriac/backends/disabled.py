"""The backend used when ``result_backend`` is unset: stores nothing, reads nothing."""

from __future__ import annotations

from typing import Any, final

from celeriac.backends.base import ResultBackend
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["DisabledBackend"]

_HOW = (
    "no result backend is configured: pass backend='sqlite:///celeriac-results.sqlite3' "
    "(or a redis:// URL) to Celery(), or set the result_backend setting"
)


@final
class DisabledBackend(ResultBackend):
    """Drops every write; every read raises :class:`ImproperlyConfigured` saying why."""

    def get(self, key: str) -> bytes | None:
        """Results are disabled."""
        raise ImproperlyConfigured(_HOW)

    def set(self, key: str, value: bytes, *, ttl: float | None, is_ready: bool) -> None:
        """Nothing is stored."""

    def delete(self, key: str) -> None:
        """Nothing is stored."""

    def store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
    ) -> Any:
        """Nothing is stored; the result is returned as is."""
        return result
