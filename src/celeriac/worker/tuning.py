"""Remote-control commands that change how a running worker works.

Rate and time limits per task, the pool's size (``pool_grow``, ``pool_shrink``,
``autoscale``), ``pool_restart`` and stopping running tasks (``terminate``, and
``revoke`` with ``terminate=True``). Replies are Celery's. :data:`TUNING_HANDLERS`
is merged into the worker's command table by :mod:`celeriac.worker.control`.
"""

from __future__ import annotations

import functools
import importlib
import logging
import signal as signals
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from celeriac.worker.ratelimit import parse_rate

if TYPE_CHECKING:
    from celeriac.worker.worker import Worker

__all__ = ["TUNING_HANDLERS", "reload_modules", "signum", "terminate_tasks"]

logger = logging.getLogger(__name__)

TUNING_HANDLERS: dict[str, Callable[..., Any]] = {}


def _handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    TUNING_HANDLERS[fn.__name__.removeprefix("do_")] = fn
    return fn


def signum(name: str | int | None) -> int:
    """A signal number from ``SIGTERM``, ``TERM``, ``term`` or ``15`` (default SIGTERM).

    Raises:
        ValueError: no such signal.
    """
    if name is None or name == "":
        return int(signals.SIGTERM)
    if isinstance(name, int) or name.isdigit():
        return int(signals.Signals(int(name)))
    upper = name.upper()
    try:
        return int(signals.Signals[upper if upper.startswith("SIG") else "SIG" + upper])
    except KeyError as exc:
        raise ValueError(f"unknown signal {name!r}") from exc


def terminate_tasks(worker: Worker, task_ids: list[str], signal: str | int | None) -> Any:
    """Stop those of ``task_ids`` that run here (the reply of ``revoke --terminate``)."""
    number = signum(signal)
    consumer = worker.consumer
    stopped = consumer.terminate(task_ids, number) if consumer is not None else []
    if not stopped:
        return {"ok": "terminate: tasks unknown"}
    return {"ok": f"terminate: {', '.join(stopped)}"}


@_handler
def do_terminate(
    worker: Worker, signal: str | None = None, task_id: str | list[str] | None = None, **_: Any
) -> Any:
    ids = [task_id] if isinstance(task_id, str) else list(task_id or [])
    worker.revoke(ids)
    return terminate_tasks(worker, ids, signal)


@_handler
def do_rate_limit(
    worker: Worker, task_name: str, rate_limit: str | float | None = None, **_: Any
) -> Any:
    try:
        parse_rate(rate_limit)
    except (TypeError, ValueError) as exc:
        return {"error": f"Invalid rate limit string: {exc!r}"}
    task = worker.app.tasks.get(task_name)
    if task is None:
        logger.error("Rate limit attempt for unknown task %s", task_name)
        return {"error": "unknown task"}
    task.rate_limit = rate_limit or None
    if worker.consumer is not None:
        worker.consumer.reset_rate_limit(task_name)
    if not rate_limit:
        logger.info("Rate limits disabled for tasks of type %s", task_name)
        return {"ok": "rate limit disabled successfully"}
    logger.info("New rate limit for tasks of type %s: %s.", task_name, rate_limit)
    return {"ok": "new rate limit set successfully"}


@_handler
def do_time_limit(
    worker: Worker,
    task_name: str | None = None,
    hard: float | None = None,
    soft: float | None = None,
    **_: Any,
) -> Any:
    task = worker.app.tasks.get(task_name or "")
    if task is None:
        logger.error("Change time limit attempt for unknown task %s", task_name)
        return {"error": "unknown task"}
    task.soft_time_limit = soft
    task.time_limit = hard
    logger.info("New time limits for tasks of type %s: soft=%s hard=%s", task_name, soft, hard)
    return {"ok": "time limits set successfully"}


@_handler
def do_pool_grow(worker: Worker, n: int = 1, **_: Any) -> Any:
    if worker.autoscaler is not None:
        return {
            "error": "pool_grow is not supported with autoscale. Adjust autoscale range instead."
        }
    pool = _running_pool(worker)
    pool.resize(pool.limit + int(n))
    return {"ok": "pool will grow"}


@_handler
def do_pool_shrink(worker: Worker, n: int = 1, **_: Any) -> Any:
    if worker.autoscaler is not None:
        return {
            "error": "pool_shrink is not supported with autoscale. Adjust autoscale range instead."
        }
    pool = _running_pool(worker)
    if pool.limit - int(n) < 1:
        return {"error": f"Can't shrink the pool below one process (it has {pool.limit})"}
    pool.resize(pool.limit - int(n))
    return {"ok": "pool will shrink"}


@_handler
def do_autoscale(
    worker: Worker,
    max: int | None = None,  # Celery's argument names
    min: int | None = None,
    **_: Any,
) -> Any:
    if worker.autoscaler is None:
        raise ValueError("Autoscale not enabled")
    high, low = worker.autoscaler.update(max, min)
    return {"ok": f"autoscale now max={high} min={low}"}


@_handler
def do_pool_restart(
    worker: Worker,
    modules: list[str] | None = None,
    reload: bool = False,
    reloader: Any = None,
    **_: Any,
) -> Any:
    if not worker.app.conf.worker_pool_restarts:
        raise ValueError("Pool restarts not enabled")
    names = sorted(_task_modules(worker) if modules is None else set(modules))
    prepare = functools.partial(reload_modules, names, reload)
    prepare()  # here: the consumer must know the tasks the new code registers
    if worker.consumer is not None:
        for name in list(worker.app.tasks):
            worker.consumer.reset_rate_limit(name)
    _running_pool(worker).restart(prepare)
    return {"ok": "reload started"}


def _running_pool(worker: Worker) -> Any:
    if worker.pool is None:
        raise ValueError("the pool is not running")
    return worker.pool


def _task_modules(worker: Worker) -> set[str]:
    """The modules that define the app's own tasks (not celeriac's built-in ones)."""
    found = set()
    for task in worker.app.tasks.values():
        module = getattr(task, "__module__", None) or type(task).__module__
        if module and not module.startswith("celeriac."):
            found.add(module)
    return found


def reload_modules(modules: Iterable[str], force: bool) -> None:
    """Import the modules that are not imported yet; with ``force``, reload the others."""
    for name in modules:
        if name not in sys.modules:
            logger.debug("importing module %s", name)
            importlib.import_module(name)
        elif force:
            logger.debug("reloading module %s", name)
            importlib.reload(sys.modules[name])
