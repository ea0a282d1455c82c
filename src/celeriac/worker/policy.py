"""What a task's options come to on this worker: its own value, else the app's setting.

``acks_late``, ``acks_on_failure``/``acks_on_timeout``, ``reject_on_worker_lost``,
``rate_limit`` and the time limits of a task name, read when a message needs them (so
``control rate_limit`` and ``control time_limit``, which change the task object, apply
to the next message).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celeriac.worker.ratelimit import parse_rate

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.protocol import TaskMessage

__all__ = [
    "acks_late",
    "acks_on_failure",
    "acks_on_timeout",
    "rate_limit",
    "reject_on_worker_lost",
    "time_limits",
]

logger = logging.getLogger(__name__)


def acks_late(app: Celery, name: str) -> bool:
    """Whether task ``name`` is acknowledged after it ran (``task_acks_late``)."""
    task = app.tasks.get(name)
    if task is not None and task.acks_late is not None:
        return task.acks_late
    return app.conf.task_acks_late


def acks_on_failure(app: Celery, name: str) -> bool:
    """Whether a failed ``acks_late`` task is acked, not rejected (``task_acks_on_failure``)."""
    task = app.tasks.get(name)
    own = task.acks_on_failure if task is not None else None
    return _acks_on(app, task, own, app.conf.task_acks_on_failure)


def acks_on_timeout(app: Celery, name: str) -> bool:
    """Whether a timed-out ``acks_late`` task is acked, not requeued (``task_acks_on_timeout``)."""
    task = app.tasks.get(name)
    own = task.acks_on_timeout if task is not None else None
    return _acks_on(app, task, own, app.conf.task_acks_on_timeout)


def _acks_on(app: Celery, task: Task[Any, Any] | None, own: bool | None, conf: bool | None) -> bool:
    # As Celery: the task's own flag, then the setting, then the task's combined flag,
    # then task_acks_on_failure_or_timeout.
    either = task.acks_on_failure_or_timeout if task is not None else None
    for value in (own, conf, either):
        if value is not None:
            return bool(value)
    return app.conf.task_acks_on_failure_or_timeout


def reject_on_worker_lost(app: Celery, name: str) -> bool:
    """Whether a lost ``acks_late`` task is requeued (``task_reject_on_worker_lost``)."""
    task = app.tasks.get(name)
    if task is not None and task.reject_on_worker_lost is not None:
        return task.reject_on_worker_lost
    return bool(app.conf.task_reject_on_worker_lost)


def rate_limit(app: Celery, name: str) -> float:
    """Task ``name``'s rate limit in tasks per second (0: none), ``task_default_rate_limit``."""
    conf = app.conf
    if conf.worker_disable_rate_limits:
        return 0.0
    task = app.tasks.get(name)
    value = task.rate_limit if task is not None else None
    try:
        return parse_rate(value if value is not None else conf.task_default_rate_limit)
    except ValueError as exc:
        logger.warning("Ignoring the rate limit of %s: %s", name, exc)
        return 0.0


def time_limits(
    app: Celery, message: TaskMessage, hard: float | None, soft: float | None
) -> tuple[float | None, float | None]:
    """``(hard, soft)``: from the message header, else the task, else ``hard``/``soft``."""
    task = app.tasks.get(message.name)
    header_hard, header_soft = message.time_limit, message.soft_time_limit
    if header_hard is not None:
        hard = header_hard
    elif task is not None and task.time_limit:
        hard = task.time_limit
    if header_soft is not None:
        soft = header_soft
    elif task is not None and task.soft_time_limit:
        soft = task.soft_time_limit
    return hard, soft
