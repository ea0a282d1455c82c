"""How an app builds its engines from its settings: broker, result backend, router.

``Celery`` calls these once, lazily, under its lock; they read only ``app.conf`` and
what they are handed, so a test can build an engine the way the app would.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac._internal.transport_options import broker_options
from celeriac.app.config import Settings
from celeriac.app.routing import Exchange, Queue, Router
from celeriac.app.task import Task
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.backends.base import ResultBackend
    from celeriac.brokers.base import Broker

__all__ = [
    "broker_options_of",
    "default_queue",
    "make_backend",
    "make_router",
    "open_broker",
    "resolve_task_cls",
]


def broker_options_of(conf: Settings) -> dict[str, Any]:
    """The options brokers and ``rpc://`` are built with.

    ``broker_transport_options`` plus ``broker_use_ssl`` and ``broker_heartbeat``
    (see :func:`~celeriac._internal.transport_options.broker_options`).
    """
    return broker_options(
        conf.broker_transport_options,
        use_ssl=conf.broker_use_ssl,
        heartbeat=conf.broker_heartbeat,
    )


def open_broker(conf: Settings, url: str, router: Router) -> Broker:
    """The broker for ``url``, told the app's queues, connected."""
    from celeriac.brokers.registry import broker_from_url

    broker = broker_from_url(url, transport_options=broker_options_of(conf))
    broker.use_topology(router.queues, max_priority=conf.task_queue_max_priority)
    broker.open()
    return broker


def make_backend(conf: Settings, broker_url: str) -> ResultBackend:
    """The result backend ``result_backend`` names, opened (a disabled one when unset)."""
    options: dict[str, Any] = {
        "serializer": conf.result_serializer,
        "accept": conf.result_accept_content or conf.accept_content,
        "expires": _seconds(conf.result_expires),
        "extended": conf.result_extended,
    }
    url = conf.result_backend
    if not url:
        from celeriac.backends.disabled import DisabledBackend

        return DisabledBackend("disabled://", **options)
    from celeriac.backends.registry import backend_from_url

    transport_options = conf.result_backend_transport_options
    backend = backend_from_url(url, transport_options=transport_options, **options)
    backend.use_broker(broker_url, broker_options_of(conf))
    backend.open()
    return backend


def make_router(conf: Settings, task_lookup: Callable[[str], Any]) -> Router:
    """The router of ``task_routes`` and ``task_queues``."""
    return Router(
        conf.task_routes,
        {q.name: q for q in conf.task_queues or ()},
        conf.task_default_queue,
        conf.task_create_missing_queues,
        task_lookup=task_lookup,
    )


def default_queue(conf: Settings, router: Router) -> Queue:
    """The queue workers consume when ``-Q`` is not given."""
    name = conf.task_default_queue
    queue = router.queue(name)
    if conf.task_default_exchange or conf.task_default_routing_key:
        exchange = Exchange(conf.task_default_exchange or name, conf.task_default_exchange_type)
        queue = Queue(name, exchange, conf.task_default_routing_key or name)
    return queue


def resolve_task_cls(task_cls: type[Task[Any, Any]] | str | None) -> type[Task[Any, Any]]:
    """The tasks' base class: ``Task``, a class, or a ``module:Class`` path."""
    if task_cls is None:
        return Task
    if isinstance(task_cls, str):
        module_name, _, attr = task_cls.partition(":")
        resolved = getattr(importlib.import_module(module_name), attr)
        if not (isinstance(resolved, type) and issubclass(resolved, Task)):
            raise ImproperlyConfigured(f"{task_cls} is not a Task class")
        return resolved
    return task_cls


def _seconds(value: Any) -> float | None:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) if value else None
