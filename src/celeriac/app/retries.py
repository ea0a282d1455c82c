"""Retrying a running task: ``Task.retry`` and ``autoretry_for`` with Celery's rules.

``retry`` sends the task again under the same id with ``retries + 1`` and raises
:class:`~celeriac.exceptions.Retry` (the worker then stores RETRY). Past ``max_retries``
it raises the exception it was given, or :class:`MaxRetriesExceededError` when there is
none. ``autoretry_for`` does that for the listed exception types, with an optional
exponential backoff (``retry_backoff``, ``retry_backoff_max``, ``retry_jitter``) and
``retry_kwargs``, exactly as Celery's ``celery/app/autoretry.py``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from celeriac import _state
from celeriac.exceptions import Ignore, MaxRetriesExceededError, Reject, Retry

if TYPE_CHECKING:
    from celeriac.app.task import Context, Task

__all__ = ["autoretry", "backoff_interval", "retry_task"]


def backoff_interval(
    factor: int,
    retries: int,
    maximum: int,
    *,
    full_jitter: bool = False,
    randrange: Callable[[int], int] = random.randrange,
) -> int:
    """Celery's exponential backoff: ``factor * 2**retries`` seconds, at most ``maximum``.

    With ``full_jitter``, a random whole number of seconds from 0 to that value.
    """
    countdown = min(maximum, factor * (1 << max(retries, 0)))
    if full_jitter:
        countdown = int(randrange(countdown + 1))
    return max(0, countdown)


def retry_task(
    task: Task[Any, Any],
    request: Context,
    *,
    args: Iterable[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    exc: BaseException | None = None,
    throw: bool = True,
    eta: dt.datetime | None = None,
    countdown: float | None = None,
    max_retries: int | None = None,
    **options: Any,
) -> Retry:
    """``task.retry(...)`` for ``request``; see :meth:`celeriac.app.task.Task.retry`."""
    if request.called_directly:
        if exc is not None:
            raise exc
        raise Retry("Task can be retried", None)
    limit = task.max_retries if max_retries is None else max_retries
    if limit is not None and request.retries >= limit:
        if exc is not None:
            raise exc
        raise MaxRetriesExceededError(
            f"Can't retry {task.name}[{request.id}] args:{request.args} kwargs:{request.kwargs}",
            task_args=request.args,
            task_kwargs=request.kwargs,
        )
    if eta is None and countdown is None:
        countdown = task.default_retry_delay
    when: float | dt.datetime = eta if eta is not None else (countdown or 0)
    retry = Retry(exc=exc, when=when)
    if request.is_eager:
        raise retry
    from celeriac.app.sending import republish_for_retry

    republish_for_retry(
        task.app,
        task,
        request,
        args=request.args if args is None else list(args),
        kwargs=request.kwargs if kwargs is None else dict(kwargs),
        eta=eta,
        countdown=countdown,
        **options,
    )
    if throw:
        raise retry
    return retry


def autoretry(
    task: Task[Any, Any],
    exc: Exception,
    request: Context,
    *,
    randrange: Callable[[int], int] = random.randrange,
) -> Exception:
    """What a run of ``task`` that raised ``exc`` ends with, once ``autoretry_for`` applies.

    If ``exc`` is an instance of ``autoretry_for`` (and not of ``dont_autoretry_for``,
    nor a :class:`Retry`, :class:`Ignore` or :class:`Reject`), the task is retried as
    ``task.retry(exc=exc, **retry_kwargs)`` would be, with a countdown of
    :func:`backoff_interval` seconds when ``retry_backoff`` is set (factor
    ``int(max(1, retry_backoff))``, at most ``retry_backoff_max``, jittered unless
    ``retry_jitter`` is false). Returns the :class:`Retry` then, ``exc`` itself once
    ``max_retries`` is reached (or whatever sending the retry raised), and ``exc``
    unchanged when it is not to be retried.
    """
    retried = tuple(task.autoretry_for)
    if not retried or isinstance(exc, (Retry, Ignore, Reject, *task.dont_autoretry_for)):
        return exc
    if not isinstance(exc, retried):
        return exc
    options = dict(task.retry_kwargs)
    if task.retry_backoff:
        options["countdown"] = backoff_interval(
            int(max(1.0, float(task.retry_backoff))),
            request.retries,
            int(task.retry_backoff_max),
            full_jitter=bool(task.retry_jitter),
            randrange=randrange,
        )
    try:
        with _state.running_task(task, request):
            retry_task(task, request, exc=exc, **options)
    except Exception as outcome:  # the Retry, or exc once past max_retries
        return outcome
    return exc  # pragma: no cover - retry_task raises when throw is true
