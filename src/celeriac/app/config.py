"""Every setting, declared once: name, type, default, environment variable, old name.

``app.conf`` is a :class:`Settings`: read a setting as a typed attribute
(``app.conf.task_serializer``) or by key (``app.conf['task_serializer']``), change it the
same ways or with :meth:`Settings.update`. Unknown keys are kept (user code may read
them) but warned about, with a "did you mean" hint when a known name is close.

This is the only module that reads ``os.environ``, and only when a setting is read.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import types
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

from celeriac.app._broker_task_settings import BrokerTaskSettings
from celeriac.app._celery_settings import CELERY_SETTING_NAMES
from celeriac.app._setting import NONE, Setting, Spec, setting
from celeriac.app._worker_settings import WorkerSettings
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["SETTINGS", "Setting", "Settings", "celery_settings_without_effect", "setting"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Settings(BrokerTaskSettings, WorkerSettings, MutableMapping[str, Any]):
    """The configuration of one app (Celery's ``app.conf``).

    The settings themselves are declared by the classes it inherits, a section each.
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = {}
        self._overrides: dict[str, Any] = {}
        self._defaults: dict[str, Any] = {}
        self._version = 0
        self._kept: dict[str, tuple[int, Any]] = {}
        if values:
            self.update(values)

    @property
    def version(self) -> int:
        """A number that changes whenever a setting is set, overridden or deleted."""
        return self._version

    def kept(self, name: str, read: Callable[[Settings], T]) -> T:
        """``read(self)``, kept under ``name`` until a setting changes.

        For values made from settings on every call (sending a task). Environment
        variables are not watched: ``read`` must use settings that have none.
        """
        found = self._kept.get(name)
        if found is not None and found[0] == self._version:
            value: T = found[1]
            return value
        version = self._version
        value = read(self)
        self._kept[name] = (version, value)
        return value

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
            expected = " or ".join(t.__name__ for t in spec.types if t is not NONE)
            raise ImproperlyConfigured(
                f"setting {name} must be {expected}, not {type(value).__name__}: {value!r}"
            )
        self._values[name] = value
        self._version += 1

    def __delitem__(self, key: str) -> None:
        del self._values[key]
        self._version += 1

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
        self._version += 1

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
    if key in CELERY_SETTING_NAMES:
        logger.warning("Setting %r is Celery's; celeriac does not implement it: no effect", key)
        return
    close = difflib.get_close_matches(key, list(_SPECS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    logger.warning("Unknown setting %r%s", key, hint)


SETTINGS: tuple[Spec, ...] = tuple(
    value.spec
    for section in (BrokerTaskSettings, WorkerSettings)
    for value in vars(section).values()
    if isinstance(value, Setting)
)
_SPECS = {spec.name: spec for spec in SETTINGS}
_OLD_NAMES = {spec.old: spec.name for spec in SETTINGS if spec.old}


def environment_variable(name: str) -> str | None:
    """The value of environment variable ``name`` (settings code reads env here only)."""
    return os.environ.get(name)


def module_named_by(variable_name: str, *, silent: bool) -> str | None:
    """The configuration module environment variable ``variable_name`` names.

    None when it is unset and ``silent``; :class:`ImproperlyConfigured` when unset otherwise.
    """
    module_name = environment_variable(variable_name)
    if module_name:
        return module_name
    if silent:
        return None
    raise ImproperlyConfigured(
        f"the environment variable {variable_name!r} is not set; it should name a "
        "configuration module"
    )


def celery_settings_without_effect() -> list[str]:
    """Celery's settings celeriac does not implement (setting one only logs a warning)."""
    return sorted(CELERY_SETTING_NAMES - _SPECS.keys())
