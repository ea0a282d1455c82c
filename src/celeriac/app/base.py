"""``Celery``, the application: the composition root every other part hangs off."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
import zoneinfo
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from celeriac import _state, signals
from celeriac.app import engines
from celeriac.app.builtins import register_builtins
from celeriac.app.config import Settings, module_named_by
from celeriac.app.discovery import PackageSource, discover_tasks
from celeriac.app.periodic import add_periodic_task
from celeriac.app.registry import TaskRegistry
from celeriac.app.routing import Queue, Router
from celeriac.app.send_settings import send_defaults
from celeriac.app.sending import publish_task
from celeriac.app.task import Task
from celeriac.app.task_decorators import BoundTaskDecorator, TaskDecorator, make_task
from celeriac.backends.base import ResultBackend
from celeriac.brokers.base import Broker
from celeriac.exceptions import ImproperlyConfigured
from celeriac.signals import Signal

if TYPE_CHECKING:
    from celeriac.app.control import Control
    from celeriac.events.facade import AppEvents
    from celeriac.result import AsyncResult, GroupResult

__all__ = ["Celery"]

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class Celery:
    """The application.

    Args:
        main: Name of the main module, used for task names defined in ``__main__``.
        broker: Broker URL (``broker_url``); the embedded SQLite broker when unset.
        backend: Result backend URL (``result_backend``); results are off when unset.
        include: Modules the worker imports at start (``include``).
        config_source: An object or module path to load settings from.
        set_as_current: Make this the current app (used by ``shared_task``).
        task_cls: The default base class of tasks made by ``@app.task``.
        **settings: Any setting, by its lowercase name.
    """

    def __init__(
        self,
        main: str | None = None,
        broker: str | None = None,
        backend: str | None = None,
        include: Sequence[str] | None = None,
        config_source: Any = None,
        set_as_current: bool = True,
        task_cls: type[Task[Any, Any]] | str | None = None,
        **settings: Any,
    ) -> None:
        self.main = main
        self.conf = Settings()
        if broker is not None:
            self.conf.broker_url = broker
        if backend is not None:
            self.conf.result_backend = backend
        if include is not None:
            self.conf.include = list(include)
        if config_source is not None:
            self.conf.config_from_object(config_source)
        self.conf.update(settings)
        self.task_cls: type[Task[Any, Any]] = engines.resolve_task_cls(task_cls)
        self.on_after_configure = Signal("app.on_after_configure", {"source"})
        self.on_after_finalize = Signal("app.on_after_finalize")
        self._finalized = False
        self._tasks = TaskRegistry()
        self._shared_applied = 0
        self._lock = threading.RLock()
        self._broker: Broker | None = None
        self._backend: ResultBackend | None = None
        self._router: Router | None = None
        self._control: Control | None = None
        self._discoveries: list[tuple[PackageSource, str]] = []
        register_builtins(self)
        if set_as_current:
            self.set_current()

    def __repr__(self) -> str:
        return f"<Celery {self.main or '__main__'} at {id(self):#x}>"

    def set_current(self) -> None:
        """Make this the current app."""
        _state.set_current_app(self)

    set_default = set_current

    # -- configuration --------------------------------------------------------------

    def config_from_object(
        self, obj: Any, namespace: str | None = None, silent: bool = False, **_: Any
    ) -> None:
        """Load settings from an object, module, or import path.

        With ``silent``, a module that cannot be imported is ignored (as in Celery).
        """
        try:
            self.conf.config_from_object(obj, namespace=namespace)
        except ImproperlyConfigured:
            if not silent or not isinstance(obj, str):
                raise
        self._forget_engines()

    def config_from_envvar(self, variable_name: str, silent: bool = False, **_: Any) -> bool:
        """Load settings from the module named by environment variable ``variable_name``."""
        module_name = module_named_by(variable_name, silent=silent)
        if module_name is None:
            return False
        self.config_from_object(module_name)
        return True

    def _forget_engines(self) -> None:
        self._router = None

    @property
    def timezone(self) -> dt.tzinfo:
        """The configured time zone (UTC when unset)."""
        name = self.conf.timezone
        if not name or name.upper() == "UTC":
            return dt.timezone.utc
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ImproperlyConfigured(f"unknown time zone {name!r}") from exc

    def now(self) -> dt.datetime:
        """The current time, aware, in the configured time zone."""
        return dt.datetime.now(self.timezone)

    def finalize(self, auto: bool = False) -> None:
        """Send ``on_after_configure`` then ``on_after_finalize``, once (beat and worker do).

        Receivers typically call :meth:`add_periodic_task`.
        """
        with self._lock:
            if self._finalized:
                return
            self._finalized = True
        self.on_after_configure.send(sender=self, source=self.conf)
        self.on_after_finalize.send(sender=self)

    def add_periodic_task(
        self,
        schedule: Any,
        sig: Any,
        args: Any = (),
        kwargs: Any = (),
        name: Any = None,
        **opts: Any,
    ) -> str:
        """Add a ``beat_schedule`` entry sending ``sig`` on ``schedule``; return its key."""
        return add_periodic_task(self, schedule, sig, args, kwargs or None, name, **opts)

    # -- tasks ----------------------------------------------------------------------

    @property
    def tasks(self) -> TaskRegistry:
        """The task registry (shared tasks are added on first use)."""
        definitions = _state.shared_task_definitions()
        if self._shared_applied < len(definitions):
            with self._lock:
                pending = definitions[self._shared_applied :]
                self._shared_applied += len(pending)  # before: a definition reads .tasks
                for define in pending:
                    define(self)
        return self._tasks

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    @overload
    def task(
        self, *, bind: Literal[False] = False, name: str | None = None, **options: Any
    ) -> TaskDecorator: ...
    @overload
    def task(
        self, *, bind: Literal[True], name: str | None = None, **options: Any
    ) -> BoundTaskDecorator: ...
    def task(self, *args: Any, **options: Any) -> Any:
        """Turn a function into a task: ``@app.task`` or ``@app.task(name=..., ...)``."""
        if len(args) > 1 or (args and not callable(args[0])):
            raise TypeError("use @app.task or @app.task(option=value, ...)")
        if args:
            return make_task(self, args[0], options)
        return lambda function: make_task(self, function, options)

    def register_task(self, task: Task[Any, Any] | type[Task[Any, Any]]) -> Task[Any, Any]:
        """Register a class-based task (an instance or a class to instantiate)."""
        instance = task(app=self) if isinstance(task, type) else task
        if instance._app is None:
            instance._app = self
        self.tasks.register(instance)
        return instance

    def import_default_modules(self) -> None:
        """Run pending task discovery, then import ``imports`` and ``include`` modules.

        The worker does this at start.
        """
        for packages, related_name in self._discoveries:
            discover_tasks(packages, related_name)
        signals.import_modules.send(sender=self)
        for module_name in [*self.conf.imports, *self.conf.include]:
            importlib.import_module(module_name)

    def autodiscover_tasks(
        self, packages: PackageSource = None, related_name: str = "tasks", force: bool = False
    ) -> None:
        """Import ``<package>.<related_name>`` for each package that has one.

        ``packages`` may be a callable returning the names; when None, the installed
        Django apps are searched (if Django is configured). Discovery happens when the
        worker imports its modules (:meth:`import_default_modules`), or now if ``force``.
        """
        if force:
            discover_tasks(packages, related_name)
        else:
            self._discoveries.append((packages, related_name))

    # -- engines ----------------------------------------------------------------------

    @property
    def broker_url(self) -> str:
        """The broker URL in effect (the embedded default when none is set)."""
        from celeriac.brokers.registry import DEFAULT_BROKER_URL

        return self.conf.broker_url or DEFAULT_BROKER_URL

    @property
    def broker(self) -> Broker:
        """The broker, connected on first use."""
        if self._broker is None:
            with self._lock:
                if self._broker is None:
                    self._broker = engines.open_broker(self.conf, self.broker_url, self.router)
        return self._broker

    @property
    def backend(self) -> ResultBackend:
        """The result backend (a disabled one when ``result_backend`` is unset)."""
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = engines.make_backend(self.conf, self.broker_url)
        return self._backend

    @property
    def router(self) -> Router:
        """Resolves where tasks are sent (``task_routes``, ``task_queues``)."""
        if self._router is None:
            self._router = engines.make_router(self.conf, self.tasks.get)
        return self._router

    @property
    def events(self) -> AppEvents:
        """Celery's ``app.events``: ``Receiver``, ``State`` and ``Dispatcher``."""
        from celeriac.events.facade import AppEvents

        return AppEvents(self)

    def connection(self, url: str | None = None) -> Broker:
        """A new broker connection, for ``with app.connection() as conn:`` (opened there)."""
        from celeriac.brokers.registry import broker_from_url

        options = engines.broker_options_of(self.conf)
        return broker_from_url(url or self.broker_url, transport_options=options)

    connection_for_read = connection
    connection_for_write = connection

    @property
    def control(self) -> Control:
        """Remote control of the workers (``inspect``, ``revoke``, ``ping`` ...)."""
        if self._control is None:
            from celeriac.app.control import Control

            self._control = Control(self)
        return self._control

    def default_queue(self) -> Queue:
        """The queue workers consume when ``-Q`` is not given."""
        return engines.default_queue(self.conf, self.router)

    def close(self) -> None:
        """Close the broker and backend connections."""
        with self._lock:
            if self._control is not None:
                self._control.close()
            if self._broker is not None:
                self._broker.close()
                self._broker = None
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    # -- calling --------------------------------------------------------------------

    def send_task(
        self,
        name: str,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        """Send task ``name`` by name (it need not be registered here).

        Options are Celery's ``apply_async`` options: countdown, eta, expires, queue,
        routing_key, exchange, priority, task_id, headers, link, link_error,
        ignore_result, serializer, compression, shadow, time_limit, soft_time_limit.
        """
        if send_defaults(self).always_eager:
            logger.warning("task_always_eager has no effect on send_task")
        options.pop("producer", None)
        options.pop("connection", None)
        task_id = publish_task(self, name, args, kwargs, **options)
        return self.AsyncResult(task_id, task_name=name)

    def GroupResult(
        self, group_id: str, results: list[AsyncResult[Any]] | None = None
    ) -> GroupResult:
        """A group result handle for ``group_id`` with these member results."""
        from celeriac.result import GroupResult

        return GroupResult(group_id, list(results or []), app=self)

    def AsyncResult(
        self, task_id: str, *, task_name: str | None = None, **_: Any
    ) -> AsyncResult[Any]:
        """A result handle for ``task_id``."""
        from celeriac.result import AsyncResult

        return AsyncResult(task_id, app=self, task_name=task_name)

    # -- security -------------------------------------------------------------------

    def setup_security(
        self,
        allowed_serializers: Any = None,
        key: str | None = None,
        key_password: bytes | str | None = None,
        cert: str | None = None,
        store: str | None = None,
        digest: str | None = None,
        serializer: str = "json",
        *,
        hmac_key: bytes | str | None = None,
    ) -> None:
        """Sign and verify task messages with the ``auth`` serializer (as Celery).

        Arguments default to the ``security_*`` settings; ``hmac_key`` (or the
        ``security_hmac_key`` setting) signs with a shared key instead of certificates.
        ``allowed_serializers`` is accepted for Celery's signature: celeriac never
        decodes a content type outside ``accept_content``, which must be ``['auth']``.
        """
        from celeriac.security import setup_security

        del allowed_serializers
        setup_security(
            self.conf,
            key=key,
            key_password=key_password,
            cert=cert,
            store=store,
            digest=digest,
            serializer=serializer,
            hmac_key=hmac_key,
        )

    # -- command line ---------------------------------------------------------------

    def start(self, argv: list[str] | None = None) -> None:
        """Run the ``celeriac`` command line with this app (``python -m proj.celery``)."""
        from celeriac.cli.main import run_with_app

        run_with_app(self, argv)

    def worker_main(self, argv: list[str] | None = None) -> None:
        """Run ``celeriac worker`` with this app; ``argv`` starts with ``worker``."""
        argv = list(argv or ["worker"])
        if not argv or argv[0] != "worker":
            raise ValueError("worker_main() argv must start with 'worker'")
        self.start(argv)
