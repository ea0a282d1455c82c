"""Every setting, declared once: name, type, default, environment variable, old name.

``app.conf`` is a :class:`Settings`: read a setting as a typed attribute
(``app.conf.task_serializer``) or by key (``app.conf['task_serializer']``), change it the
same ways or with :meth:`Settings.update`. Unknown keys are kept (user code may read
them) but warned about, with a "did you mean" hint when a known name is close.

This is the only module that reads ``os.environ``, and only when a setting is read.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import logging
import os
import types
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["SETTINGS", "Setting", "Settings", "setting"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    default: Any
    types: tuple[type, ...]
    env: tuple[str, ...]
    old: str | None
    doc: str


class Setting(Generic[T]):
    """A declared setting; a descriptor on :class:`Settings` returning its typed value.

    The name is the attribute the setting is assigned to in the class body.
    """

    def __init__(
        self, default: T, types: tuple[type, ...], env: tuple[str, ...], old: str | None, doc: str
    ) -> None:
        self.spec = _Spec("", default, types, env, old, doc)

    def __set_name__(self, owner: type, name: str) -> None:
        self.spec = _Spec(name, *astuple_tail(self.spec))

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: Settings, owner: type) -> T: ...
    def __get__(self, instance: Settings | None, owner: type) -> Setting[T] | T:
        if instance is None:
            return self
        value: T = instance[self.spec.name]
        return value

    def __set__(self, instance: Settings, value: T) -> None:
        instance[self.spec.name] = value


def astuple_tail(spec: _Spec) -> tuple[Any, ...]:
    """The fields of ``spec`` after its name."""
    return spec.default, spec.types, spec.env, spec.old, spec.doc


def setting(
    default: T,
    *types: type,
    env: tuple[str, ...] = (),
    old: str | None = None,
    doc: str,
) -> Setting[T]:
    """Declare a setting of the given types (the default's type when none are given)."""
    return Setting(default, types or (type(default),), env, old, doc)


_NONE = type(None)
_CALLABLE = cast("type", Callable)  # isinstance() works with the ABC; mypy wants a type


class Settings(MutableMapping[str, Any]):
    """The configuration of one app (Celery's ``app.conf``)."""

    # -- broker ------------------------------------------------------------------
    broker_url: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        env=("CELERIAC_BROKER_URL", "CELERY_BROKER_URL"),
        old="BROKER_URL",
        doc="Broker URL; the embedded SQLite broker when unset.",
    )
    broker_transport_options: Setting[dict[str, Any]] = setting(
        {},
        dict,
        old="BROKER_TRANSPORT_OPTIONS",
        doc="Engine-specific broker options.",
    )
    broker_connection_retry_on_startup: Setting[bool | None] = setting(
        None,
        bool,
        _NONE,
        old="BROKER_CONNECTION_RETRY_ON_STARTUP",
        doc="Retry connecting to the broker at worker start-up (broker_connection_retry "
        "when unset).",
    )
    broker_connection_retry: Setting[bool] = setting(
        True,
        old="BROKER_CONNECTION_RETRY",
        doc="Retry connecting to the broker when the connection fails.",
    )
    broker_connection_max_retries: Setting[int | None] = setting(
        100,
        int,
        _NONE,
        old="BROKER_CONNECTION_MAX_RETRIES",
        doc="Connection attempts before giving up (None: forever).",
    )
    # -- results -----------------------------------------------------------------
    result_backend: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        env=("CELERIAC_RESULT_BACKEND", "CELERY_RESULT_BACKEND"),
        old="CELERY_RESULT_BACKEND",
        doc="Result backend URL; results are disabled when unset.",
    )
    result_serializer: Setting[str] = setting(
        "json",
        old="CELERY_RESULT_SERIALIZER",
        doc="Serializer for stored results.",
    )
    result_accept_content: Setting[list[str] | None] = setting(
        None,
        list,
        tuple,
        set,
        frozenset,
        _NONE,
        old="RESULT_ACCEPT_CONTENT",
        doc="Content types accepted when reading results.",
    )
    result_expires: Setting[float | dt.timedelta | None] = setting(
        86400.0,
        int,
        float,
        dt.timedelta,
        _NONE,
        old="CELERY_TASK_RESULT_EXPIRES",
        doc="Seconds results are kept (None or 0: forever).",
    )
    result_extended: Setting[bool] = setting(
        False,
        old="CELERY_RESULT_EXTENDED",
        doc="Also store name, args, kwargs, worker, retries and queue.",
    )
    result_backend_transport_options: Setting[dict[str, Any]] = setting(
        {},
        dict,
        old="CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS",
        doc="Engine-specific backend options.",
    )
    # -- tasks -------------------------------------------------------------------
    include: Setting[list[str]] = setting(
        [],
        list,
        tuple,
        old="CELERY_INCLUDE",
        doc="Modules imported when the worker starts.",
    )
    imports: Setting[list[str]] = setting(
        [],
        list,
        tuple,
        old="CELERY_IMPORTS",
        doc="Modules imported when the worker starts.",
    )
    task_serializer: Setting[str] = setting(
        "json",
        old="CELERY_TASK_SERIALIZER",
        doc="Serializer for task messages.",
    )
    task_compression: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        old="CELERY_MESSAGE_COMPRESSION",
        doc="Compression for task messages (zlib, bzip2, lzma).",
    )
    accept_content: Setting[list[str]] = setting(
        ["json"],
        list,
        tuple,
        set,
        frozenset,
        old="CELERY_ACCEPT_CONTENT",
        doc="Content types (or serializer names) a worker accepts.",
    )
    task_routes: Setting[Any] = setting(
        None,
        dict,
        list,
        tuple,
        _NONE,
        str,
        _CALLABLE,
        old="CELERY_ROUTES",
        doc="Routers: a dict by task name (globs, regexes), a list of them, or functions.",
    )
    task_queues: Setting[list[Any] | None] = setting(
        None,
        list,
        tuple,
        _NONE,
        old="CELERY_QUEUES",
        doc="Declared queues (celeriac.Queue or kombu.Queue objects).",
    )
    task_default_queue: Setting[str] = setting(
        "celery",
        old="CELERY_DEFAULT_QUEUE",
        doc="Queue for tasks with no route.",
    )
    task_default_exchange: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        old="CELERY_DEFAULT_EXCHANGE",
        doc="Exchange of the default queue (its name when unset).",
    )
    task_default_exchange_type: Setting[str] = setting(
        "direct",
        old="CELERY_DEFAULT_EXCHANGE_TYPE",
        doc="Type of the default exchange.",
    )
    task_default_routing_key: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        old="CELERY_DEFAULT_ROUTING_KEY",
        doc="Routing key of the default queue (its name when unset).",
    )
    task_default_priority: Setting[int | None] = setting(
        None,
        int,
        _NONE,
        old="CELERY_DEFAULT_PRIORITY",
        doc="Priority of messages that set none.",
    )
    task_queue_max_priority: Setting[int | None] = setting(
        None,
        int,
        _NONE,
        old="CELERY_QUEUE_MAX_PRIORITY",
        doc="x-max-priority of the queues declared on RabbitMQ (None: no priorities).",
    )
    task_create_missing_queues: Setting[bool] = setting(
        True,
        old="CELERY_CREATE_MISSING_QUEUES",
        doc="Create queues named in routes that are not declared.",
    )
    task_track_started: Setting[bool] = setting(
        False,
        old="CELERY_TRACK_STARTED",
        doc="Record STARTED when a task starts.",
    )
    task_ignore_result: Setting[bool] = setting(
        False,
        old="CELERY_IGNORE_RESULT",
        doc="Store no results by default.",
    )
    task_acks_late: Setting[bool] = setting(
        False,
        old="CELERY_ACKS_LATE",
        doc="Ack after the task ran, not before.",
    )
    task_always_eager: Setting[bool] = setting(
        False,
        old="CELERY_ALWAYS_EAGER",
        doc="Run tasks locally instead of sending them.",
    )
    task_eager_propagates: Setting[bool] = setting(
        False,
        old="CELERY_EAGER_PROPAGATES_EXCEPTIONS",
        doc="Eager tasks re-raise their exceptions.",
    )
    task_store_eager_result: Setting[bool] = setting(
        False,
        old="CELERY_STORE_EAGER_RESULT",
        doc="Eager tasks store their result in the backend.",
    )
    task_time_limit: Setting[float | None] = setting(
        None,
        int,
        float,
        _NONE,
        old="CELERYD_TASK_TIME_LIMIT",
        doc="Hard time limit in seconds.",
    )
    task_soft_time_limit: Setting[float | None] = setting(
        None,
        int,
        float,
        _NONE,
        old="CELERYD_TASK_SOFT_TIME_LIMIT",
        doc="Soft time limit in seconds.",
    )
    task_default_retry_delay: Setting[float] = setting(
        180,
        int,
        float,
        doc="Seconds before a retry when the task gives none.",
    )
    task_max_retries: Setting[int | None] = setting(
        3,
        int,
        _NONE,
        doc="Retries allowed when the task sets none.",
    )
    # -- worker ------------------------------------------------------------------
    worker_concurrency: Setting[int | None] = setting(
        None,
        int,
        _NONE,
        old="CELERYD_CONCURRENCY",
        doc="Pool size (default: CPU count).",
    )
    worker_prefetch_multiplier: Setting[int] = setting(
        4,
        old="CELERYD_PREFETCH_MULTIPLIER",
        doc="Messages reserved per pool slot.",
    )
    worker_pool: Setting[str] = setting(
        "prefork",
        old="CELERYD_POOL",
        doc="Pool used when -P is not given: a name or a 'module:Class' path.",
    )
    worker_max_tasks_per_child: Setting[int | None] = setting(
        None,
        int,
        _NONE,
        old="CELERYD_MAX_TASKS_PER_CHILD",
        doc="Replace a pool child after it ran this many tasks.",
    )
    worker_max_memory_per_child: Setting[int | None] = setting(
        None,
        int,
        _NONE,
        old="CELERYD_MAX_MEMORY_PER_CHILD",
        doc="Replace a pool child after the task that took it over this many KiB resident.",
    )
    worker_disable_prefetch: Setting[bool] = setting(
        False,
        old="CELERYD_DISABLE_PREFETCH",
        doc="Take a message only when a pool slot is free.",
    )
    task_reject_on_worker_lost: Setting[bool | None] = setting(
        None,
        bool,
        _NONE,
        old="CELERY_REJECT_ON_WORKER_LOST",
        doc="Requeue an acks_late task whose pool child died, instead of failing it.",
    )
    worker_send_task_events: Setting[bool] = setting(
        False, old="CELERY_SEND_EVENTS", doc="Send task events (as -E does)."
    )
    worker_enable_remote_control: Setting[bool] = setting(
        True, old="CELERY_ENABLE_REMOTE_CONTROL", doc="Answer inspect and control commands."
    )
    worker_control_allowlist: Setting[list[str] | None] = setting(
        None,
        list,
        _NONE,
        doc="Remote-control commands this worker obeys (all when unset); celeriac only.",
    )
    worker_state_db: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        old="CELERYD_STATE_DB",
        doc="File keeping revoked ids and the logical clock across restarts (as -S).",
    )
    worker_pool_restarts: Setting[bool] = setting(
        False, old="CELERYD_POOL_RESTARTS", doc="Allow the pool_restart remote command."
    )
    worker_disable_rate_limits: Setting[bool] = setting(
        False, old="CELERY_DISABLE_RATE_LIMITS", doc="Ignore every task's rate limit."
    )
    task_default_rate_limit: Setting[str | int | float | None] = setting(
        None,
        str,
        int,
        float,
        _NONE,
        old="CELERY_DEFAULT_RATE_LIMIT",
        doc="Rate limit of tasks that set none ('10/s', '100/m', '1000/h').",
    )
    # -- security (app.setup_security(); see celeriac.security) -----------------------
    security_key: Setting[str | None] = setting(
        None, str, _NONE, old="CELERY_SECURITY_KEY", doc="PEM file of the signing RSA key."
    )
    security_key_password: Setting[bytes | str | None] = setting(
        None, bytes, str, _NONE, old="CELERY_SECURITY_KEY_PASSWORD", doc="security_key's password."
    )
    security_certificate: Setting[str | None] = setting(
        None, str, _NONE, old="CELERY_SECURITY_CERTIFICATE", doc="PEM file of the signer."
    )
    security_cert_store: Setting[str | None] = setting(
        None, str, _NONE, old="CELERY_SECURITY_CERT_STORE", doc="Trusted certificates (glob)."
    )
    security_digest: Setting[str] = setting(
        "sha256", old="CELERY_SECURITY_DIGEST", doc="Digest used to sign messages."
    )
    security_hmac_key: Setting[bytes | str | None] = setting(
        None, bytes, str, _NONE, doc="Shared HMAC key: signing without certificates."
    )
    # -- time --------------------------------------------------------------------
    timezone: Setting[str | None] = setting(
        None,
        str,
        _NONE,
        old="CELERY_TIMEZONE",
        doc="Time zone for display (UTC when unset).",
    )
    enable_utc: Setting[bool] = setting(True, old="CELERY_ENABLE_UTC", doc="Use UTC internally.")
    # -- beat --------------------------------------------------------------------
    beat_schedule: Setting[dict[str, Any]] = setting(
        {},
        dict,
        old="CELERYBEAT_SCHEDULE",
        doc="Periodic tasks: name -> {'task', 'schedule', 'args', 'kwargs', 'options'}.",
    )
    beat_scheduler: Setting[str | type] = setting(
        "celery.beat:PersistentScheduler",
        str,
        type,
        old="CELERYBEAT_SCHEDULER",
        doc="Scheduler class or path (Celery's default means celeriac's PersistentScheduler).",
    )
    beat_schedule_filename: Setting[str] = setting(
        "celerybeat-schedule",
        old="CELERYBEAT_SCHEDULE_FILENAME",
        doc="The file where beat keeps its schedule state (SQLite).",
    )
    beat_max_loop_interval: Setting[float] = setting(
        0,
        int,
        float,
        old="CELERYBEAT_MAX_LOOP_INTERVAL",
        doc="Longest wait between beat's checks in seconds (0: the scheduler's default).",
    )

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = {}
        self._overrides: dict[str, Any] = {}
        self._defaults: dict[str, Any] = {}
        if values:
            self.update(values)

    # -- mapping protocol ----------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        key = _OLD_NAMES.get(key, key)  # Celery reads old names too
        if key in self._overrides:
            return self._overrides[key]
        spec = _SPECS.get(key)
        if spec is None:
            return self._values[key]
        for name in spec.env:
            env_value = os.environ.get(name)
            if env_value:
                return env_value
        if key in self._values:
            return self._values[key]
        default = spec.default
        if isinstance(default, dict | list):
            # This app's own copy, kept, so ``conf.beat_schedule["x"] = ...`` sticks.
            default = self._defaults.setdefault(key, default.copy())
        return default

    def __setitem__(self, key: str, value: Any) -> None:
        name = _OLD_NAMES.get(key, key)
        spec = _SPECS.get(name)
        if spec is None:
            if key not in self._values:
                _warn_unknown(key)
        elif not isinstance(value, spec.types):
            expected = " or ".join(t.__name__ for t in spec.types if t is not _NONE)
            raise ImproperlyConfigured(
                f"setting {name} must be {expected}, not {type(value).__name__}: {value!r}"
            )
        self._values[name] = value

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(_SPECS), **self._values})

    def __len__(self) -> int:
        return len({**dict.fromkeys(_SPECS), **self._values})

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self[key] = value

    def __getattr__(self, key: str) -> Any:
        # Only reached for names that are not declared settings (old names, user keys).
        if key in _OLD_NAMES:
            return self[key]
        try:
            return self._values[key]
        except KeyError as exc:
            raise AttributeError(f"no setting named {key!r}") from exc

    def override(self, **values: Any) -> None:
        """Set values that win over everything, environment included (command-line flags)."""
        for key, value in values.items():
            self[key] = value
            self._overrides[key] = value

    def changes(self) -> dict[str, Any]:
        """The settings set explicitly (not defaults)."""
        return dict(self._values)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Set ``key`` only if it was not set explicitly."""
        key = _OLD_NAMES.get(key, key)
        if key not in self._values:
            self[key] = default
        return self[key]

    def config_from_object(self, obj: Any, namespace: str | None = None) -> None:
        """Load settings from an object, a module, or a ``module:attr`` / module path.

        With ``namespace='CELERY'`` (or ``'CELERY_'``) only ``CELERY_``-prefixed names are
        read, prefix removed and lower-cased (Django style: ``CELERY_BROKER_URL`` is
        ``broker_url``).
        """
        if isinstance(obj, str):
            obj = _import_object(obj)
        items = (
            obj.items()
            if isinstance(obj, Mapping)
            else ((k, getattr(obj, k)) for k in dir(obj) if not k.startswith("_"))
        )
        prefix = f"{namespace.rstrip('_')}_" if namespace else None
        for key, value in items:
            if prefix is not None:
                if not key.startswith(prefix):
                    continue
                name = key[len(prefix) :].lower()
            elif key.islower() or key in _OLD_NAMES:
                name = key
            else:
                continue
            if not _is_helper(name, value):
                self[name] = value

    def humanize(self, *, with_defaults: bool = False) -> dict[str, Any]:
        """The settings as a plain dict (what ``inspect conf`` shows)."""
        keys = list(self) if with_defaults else list(self._values)
        return {key: self[key] for key in keys}


def _import_object(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImproperlyConfigured(f"cannot import configuration module {module_name!r}") from exc
    return getattr(module, attr) if attr else module


def _is_helper(key: str, value: Any) -> bool:
    """An import or helper of a configuration module (``import os``), not a setting."""
    known = key in _SPECS or key in _OLD_NAMES
    return not known and (isinstance(value, types.ModuleType) or callable(value))


def _warn_unknown(key: str) -> None:
    close = difflib.get_close_matches(key, list(_SPECS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    logger.warning("Unknown setting %r%s", key, hint)


SETTINGS: tuple[_Spec, ...] = tuple(
    value.spec for value in vars(Settings).values() if isinstance(value, Setting)
)
_SPECS = {spec.name: spec for spec in SETTINGS}
_OLD_NAMES = {spec.old: spec.name for spec in SETTINGS if spec.old}


def environment_variable(name: str) -> str | None:
    """The value of environment variable ``name`` (settings code reads env here only)."""
    return os.environ.get(name)
