"""Where a task message goes: ``task_routes``, queues and exchanges.

Routers are tried in order; the first that returns a route wins. A route is a dict
(``{"queue": "hipri"}``, optionally ``exchange``, ``routing_key``, ``priority``) or a
queue name. Options given at call time win over routes.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from celeriac.exceptions import ImproperlyConfigured, QueueNotFound

__all__ = ["Exchange", "Queue", "Route", "Router", "as_queue"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """An exchange, as kombu's ``Exchange`` names it."""

    name: str = ""
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue and how it is bound, as kombu's ``Queue`` names it."""

    name: str
    exchange: Exchange | str | None = None
    routing_key: str | None = None
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    queue_arguments: Mapping[str, Any] | None = None
    max_priority: int | None = None

    @property
    def exchange_name(self) -> str:
        """The exchange's name (the queue's own name when none was given)."""
        if isinstance(self.exchange, Exchange):
            return self.exchange.name
        return self.exchange if self.exchange is not None else self.name

    @property
    def exchange_type(self) -> str:
        """The exchange's type, ``direct`` unless an :class:`Exchange` says otherwise."""
        return self.exchange.type if isinstance(self.exchange, Exchange) else "direct"

    @property
    def key(self) -> str:
        """The binding key (the queue's name when none was given)."""
        return self.routing_key if self.routing_key is not None else self.name

    def as_dict(self) -> dict[str, Any]:
        """The queue as ``inspect active_queues`` shows it."""
        return {
            "name": self.name,
            "exchange": {"name": self.exchange_name, "type": self.exchange_type},
            "routing_key": self.key,
            "durable": self.durable,
            "exclusive": self.exclusive,
            "auto_delete": self.auto_delete,
            "queue_arguments": dict(self.queue_arguments or {}),
        }


def as_queue(value: Any) -> Queue:
    """``value`` as a celeriac :class:`Queue`; a kombu ``Queue`` is converted."""
    if isinstance(value, Queue):
        return value
    exchange = getattr(value, "exchange", None)
    if exchange is not None and not isinstance(exchange, Exchange | str):
        # kombu: an exchange named "" (the default) means "the queue's own".
        exchange = (
            Exchange(exchange.name, exchange.type, exchange.durable, exchange.auto_delete)
            if exchange.name
            else None
        )
    return Queue(
        value.name,
        exchange,
        getattr(value, "routing_key", None) or None,
        durable=getattr(value, "durable", True),
        exclusive=getattr(value, "exclusive", False),
        auto_delete=getattr(value, "auto_delete", False),
        queue_arguments=getattr(value, "queue_arguments", None),
        max_priority=getattr(value, "max_priority", None),
    )


@dataclass(frozen=True, slots=True)
class Route:
    """Where one message is published."""

    queue: str
    exchange: str = ""
    routing_key: str = ""
    priority: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


RouterFunction = Callable[..., Any]

#: Call options that override the routers' choice.
_ROUTE_KEYS = ("queue", "exchange", "routing_key", "priority")
#: Task names whose route is kept (more are resolved each time).
_NAME_CACHE = 1024


class _NameRouter:
    """``task_routes`` given as a mapping: the route depends on the task name alone."""

    __slots__ = ("exact", "patterns")

    def __init__(self, mapping: Mapping[Any, Any]) -> None:
        self.exact: dict[str, Any] = {}
        self.patterns: list[tuple[re.Pattern[str], Any]] = []
        for key, route in mapping.items():
            if isinstance(key, re.Pattern):
                self.patterns.append((key, route))
            elif isinstance(key, str) and any(ch in key for ch in "*?["):
                self.patterns.append((re.compile(fnmatch.translate(key)), route))
            else:
                self.exact[str(key)] = route

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self.exact:
            return self.exact[name]
        for pattern, route in self.patterns:
            if pattern.match(name):
                return route
        return None


def _compile_one(item: Any) -> RouterFunction:
    if isinstance(item, Mapping):
        return _NameRouter(item)
    if isinstance(item, str):
        module_name, _, attr = item.rpartition(".") if ":" not in item else item.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ImproperlyConfigured(f"cannot import router {item!r}: {exc}") from exc
        return _compile_one(target)
    if callable(item):
        router: RouterFunction = item
        return router
    raise ImproperlyConfigured(f"task_routes entry {item!r} is not a dict, a router or a path")


def compile_routers(setting: Any) -> list[RouterFunction]:
    """Turn the ``task_routes`` setting into a list of router functions."""
    if setting is None:
        return []
    items: Iterable[Any] = setting if isinstance(setting, list | tuple) else [setting]
    return [_compile_one(item) for item in items]


def _takes_task_keyword(router: RouterFunction) -> bool:
    """Whether Celery's ``task=`` keyword can be passed to ``router``."""
    try:
        params = inspect.signature(router).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "task" or p.kind is p.VAR_KEYWORD for p in params)


class Router:
    """Resolves a task name and call options to a :class:`Route`.

    Args:
        routes: The ``task_routes`` setting.
        queues: Declared queues (``task_queues``), by name.
        default_queue: ``task_default_queue``.
        create_missing: ``task_create_missing_queues``.
        task_lookup: Finds the task object for a name (passed to routers as ``task=``).
    """

    def __init__(
        self,
        routes: Any,
        queues: Mapping[str, Queue],
        default_queue: str,
        create_missing: bool = True,
        task_lookup: Callable[[str], Any] | None = None,
    ) -> None:
        self._routers = compile_routers(routes)
        # Routes that depend on the task name alone, kept per name (see route()).
        self._by_name: dict[str, Route] | None = None
        if all(isinstance(router, _NameRouter) for router in self._routers):
            self._by_name = {}
        self.queues = {name: as_queue(queue) for name, queue in queues.items()}
        self.default_queue = default_queue
        self.create_missing = create_missing
        self.task_lookup = task_lookup

    def queue(self, name: str) -> Queue:
        """The declared queue ``name``, created on demand when allowed."""
        found = self.queues.get(name)
        if found is None:
            if not self.create_missing:
                raise QueueNotFound(
                    f"queue {name!r} is not in task_queues and task_create_missing_queues is off"
                )
            found = self.queues[name] = Queue(name, Exchange(name), name)
        return found

    def _lookup(self, name: str, args: Any, kwargs: Any, options: dict[str, Any]) -> Any:
        task = self.task_lookup(name) if self.task_lookup is not None else None
        for router in self._routers:
            if hasattr(router, "route_for_task"):  # an old-style router object
                route = router.route_for_task(name, args, kwargs)
            elif _takes_task_keyword(router):
                route = router(name, args, kwargs, options, task=task)
            else:
                route = router(name, args, kwargs, options)
            if route:
                return route
        return None

    def route(
        self,
        name: str,
        args: Any = (),
        kwargs: Any = None,
        options: dict[str, Any] | None = None,
    ) -> Route:
        """Where a call of task ``name`` with these options goes."""
        options = options or {}
        by_name = self._by_name
        if by_name is not None and (
            not options or all(options.get(key) is None for key in _ROUTE_KEYS)
        ):
            # No router looks at the arguments and no option overrides the route.
            found = by_name.get(name)
            if found is None:
                found = self._resolve(name, args, kwargs, options)
                if len(by_name) < _NAME_CACHE:
                    by_name[name] = found
            return found
        return self._resolve(name, args, kwargs, options)

    def _resolve(self, name: str, args: Any, kwargs: Any, options: dict[str, Any]) -> Route:
        found = self._lookup(name, args, kwargs or {}, options)
        route: dict[str, Any] = {"queue": found} if isinstance(found, str) else dict(found or {})
        for key in _ROUTE_KEYS:
            if options.get(key) is not None:
                route[key] = options[key]
        queue_value = route.get("queue") or self.default_queue
        queue = self.queue(queue_value) if isinstance(queue_value, str) else as_queue(queue_value)
        exchange = route.get("exchange")
        exchange_name = getattr(exchange, "name", exchange)  # an Exchange (ours or kombu's)
        routing_key = route.get("routing_key")
        if (not exchange_name or not routing_key) and queue.exchange_type == "direct":
            # Celery publishes straight to the queue through the default exchange unless
            # both an exchange and a routing key are given.
            exchange_name, routing_key = "", queue.name
        return Route(
            queue=queue.name,
            exchange=exchange_name if exchange_name is not None else queue.exchange_name,
            routing_key=routing_key if routing_key is not None else queue.key,
            priority=route.get("priority"),
        )
