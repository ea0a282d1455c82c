"""``einfo``: an exception with its traceback, as the task signals hand it to receivers.

Celery's ``task_failure``, ``task_retry`` and ``task_internal_error`` pass billiard's
``ExceptionInfo``; receivers read ``einfo.exception``, ``einfo.type``, ``einfo.tb``,
``einfo.traceback`` (the formatted text) or ``str(einfo)``. This is the same shape.
"""

from __future__ import annotations

import traceback as traceback_module
from types import TracebackType

__all__ = ["ExceptionInfo"]


class ExceptionInfo:
    """An exception, its type, its traceback object and its formatted traceback.

    Args:
        exception: The exception (its ``__traceback__`` is the traceback).
        traceback: The formatted traceback, when the caller already has it.
        internal: Whether the error came from the worker rather than the task body.
    """

    __slots__ = ("exception", "internal", "tb", "traceback", "type")

    def __init__(
        self, exception: BaseException, traceback: str | None = None, *, internal: bool = False
    ) -> None:
        self.exception = exception
        self.type: type[BaseException] = type(exception)
        self.tb: TracebackType | None = exception.__traceback__
        self.traceback = traceback or "".join(
            traceback_module.format_exception(self.type, exception, self.tb)
        )
        self.internal = internal

    @property
    def exc_info(self) -> tuple[type[BaseException], BaseException, TracebackType | None]:
        """``(type, exception, traceback)``, as ``sys.exc_info()`` gives it."""
        return self.type, self.exception, self.tb

    def __str__(self) -> str:
        return self.traceback

    def __repr__(self) -> str:
        return f"<ExceptionInfo: {self.exception!r}>"
