"""The whole celeriac error tree.

Every error celeriac raises derives from :class:`CeleriacError` (also exported as
``CeleryError``), except the two worker-exit signals, which are ``BaseException`` so that
a task's ``except Exception`` cannot swallow them::

    CeleriacError (CeleryError)
    ├── ImproperlyConfigured
    │   └── QueueNotFound (also KeyError)
    ├── BrokerError
    │   └── OperationalError
    ├── BackendError
    │   └── BackendStoreError
    ├── SerializationError
    │   ├── EncodeError
    │   ├── DecodeError
    │   └── ContentDisallowed
    ├── TaskError
    │   ├── NotRegistered (also KeyError)
    │   ├── MaxRetriesExceededError
    │   ├── TaskRevokedError
    │   ├── TimeLimitExceeded
    │   ├── SoftTimeLimitExceeded
    │   ├── WorkerLostError
    │   ├── ChordError
    │   └── InvalidTaskError
    ├── TimeoutError (also builtins.TimeoutError)
    └── TaskPredicate
        ├── Retry
        ├── Ignore
        └── Reject
    WorkerShutdown, WorkerTerminate (BaseException: SystemExit)
"""

from __future__ import annotations

import builtins
import datetime as _dt
from typing import Any

__all__ = [
    "BackendError",
    "BackendStoreError",
    "BrokerError",
    "CeleriacError",
    "CeleryError",
    "ChordError",
    "ContentDisallowed",
    "DecodeError",
    "EncodeError",
    "Ignore",
    "ImproperlyConfigured",
    "InvalidTaskError",
    "MaxRetriesExceededError",
    "NotRegistered",
    "OperationalError",
    "QueueNotFound",
    "Reject",
    "Retry",
    "SecurityError",
    "SerializationError",
    "SoftTimeLimitExceeded",
    "TaskError",
    "TaskPredicate",
    "TaskRevokedError",
    "TimeLimitExceeded",
    "TimeoutError",
    "WorkerLostError",
    "WorkerShutdown",
    "WorkerTerminate",
]


class CeleriacError(Exception):
    """Root of every error celeriac raises."""


CeleryError = CeleriacError


class ImproperlyConfigured(CeleriacError):
    """A setting, URL or command-line value cannot be used."""


class QueueNotFound(ImproperlyConfigured, KeyError):
    """A task was routed to a queue that is not declared (and may not be created)."""


class BrokerError(CeleriacError):
    """The message broker failed or cannot be reached."""


class OperationalError(BrokerError):
    """A broker operation failed after the connection was established."""


class BackendError(CeleriacError):
    """The result backend failed or cannot be reached."""


class BackendStoreError(BackendError):
    """A result could not be stored (for example, it is too large)."""


class SerializationError(CeleriacError):
    """A value could not be encoded or decoded."""


class EncodeError(SerializationError):
    """A value could not be serialized; nothing was sent."""


class DecodeError(SerializationError):
    """A payload could not be deserialized."""


class ContentDisallowed(SerializationError):
    """A payload's content type is not in the accepted list."""


class SecurityError(CeleriacError):
    """A message could not be signed or verified (Celery's ``SecurityError``)."""


class TaskError(CeleriacError):
    """A task could not run or failed in a way celeriac itself detected."""


class NotRegistered(TaskError, KeyError):
    """No task with this name is registered."""

    def __str__(self) -> str:
        return repr(self.args[0]) if self.args else "NotRegistered"


class MaxRetriesExceededError(TaskError):
    """A task asked to be retried more often than ``max_retries`` allows."""

    def __init__(self, *args: Any, task_args: Any = None, task_kwargs: Any = None) -> None:
        super().__init__(*args)
        self.task_args = task_args
        self.task_kwargs = task_kwargs


class TaskRevokedError(TaskError):
    """The task was revoked (or had expired) and did not run to completion."""


class TimeLimitExceeded(TaskError):
    """The task's hard time limit was exceeded."""


class SoftTimeLimitExceeded(TaskError):
    """The task's soft time limit was exceeded (raised inside the task).

    Attributes:
        limit: The limit in seconds, when the pool that raised it knows it.
    """

    limit: float | None = None


class WorkerLostError(TaskError):
    """The process running the task exited before the task finished."""


class ChordError(TaskError):
    """A task in a chord's header failed, so its body cannot run."""


class InvalidTaskError(TaskError):
    """A task message lacks required fields or is malformed."""


class TimeoutError(CeleriacError, builtins.TimeoutError):
    """An operation, such as ``AsyncResult.get``, did not finish in time."""


class TaskPredicate(CeleriacError):
    """Base of the exceptions a task raises to steer its own outcome."""


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


class Retry(TaskPredicate):
    """The task is to be retried.

    Args:
        message: Human readable reason.
        exc: The exception that caused the retry, if any.
        when: Seconds until the retry, or the datetime it happens at.
        is_eager: Whether the task runs eagerly (no message was sent).
        sig: The signature that was re-sent, if any.
    """

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | str | None = None,
        when: float | _dt.datetime | None = None,
        is_eager: bool = False,
        sig: Any = None,
    ) -> None:
        self.message = message
        # As Celery: a string is only a description; an exception is shown by its repr.
        self.exc = None if isinstance(exc, str) else exc
        self.excs = exc if isinstance(exc, str) else _safe_repr(exc) if exc is not None else None
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        super().__init__(self, exc, when)

    def humanize(self) -> str:
        """Describe when the retry happens, as Celery words it."""
        if isinstance(self.when, int | float):
            return f"in {self.when}s"
        return f"at {self.when}"

    def __str__(self) -> str:
        if self.message:
            return self.message
        if self.excs:
            return f"Retry {self.humanize()}: {self.excs}"
        return f"Retry {self.humanize()}"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.excs, self.when)


class Ignore(TaskPredicate):
    """The task's outcome is not to be recorded; its message is acknowledged."""


class Reject(TaskPredicate):
    """The task's message is to be rejected, and requeued if ``requeue`` is true."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f"reject requeue={self.requeue}: {self.reason}"


class WorkerShutdown(SystemExit):
    """Raised to ask the worker for a warm shutdown."""


class WorkerTerminate(SystemExit):
    """Raised to ask the worker for a cold shutdown."""
