"""Finding the app named by ``-A``, as Celery does, trying ``celeriac`` before ``celery``.

For ``-A proj``: ``proj.app``, ``proj.celeriac``, ``proj.celery`` (attributes that are
not modules), any ``Celery`` instance in ``proj``; then the same inside the submodules
``proj.celeriac`` and ``proj.celery``. ``-A proj.mod:attr`` names the attribute.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

from celeriac.app.base import Celery
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["find_app"]

_ATTRIBUTE_NAMES = ("app", "celeriac", "celery")
_SUBMODULE_NAMES = ("celeriac", "celery")


def _import(name: str) -> types.ModuleType | None:
    """Import ``name``; ``None`` if that very module does not exist."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def _app_in_module(module: types.ModuleType, tried: list[str]) -> Celery | None:
    for attr in _ATTRIBUTE_NAMES:
        tried.append(f"{module.__name__}.{attr}")
        value = getattr(module, attr, None)
        if isinstance(value, Celery):
            return value
    for value in vars(module).values():
        if isinstance(value, Celery):
            return value
    return None


def _search(module_name: str, tried: list[str]) -> Celery | None:
    module = _import(module_name)
    if module is None:
        tried.append(f"module {module_name}")
        return None
    found = _app_in_module(module, tried)
    if found is not None:
        return found
    if hasattr(module, "__path__"):  # a package: look in its app submodules
        for sub in _SUBMODULE_NAMES:
            submodule = _import(f"{module_name}.{sub}")
            if submodule is None:
                tried.append(f"module {module_name}.{sub}")
                continue
            found = _app_in_module(submodule, tried)
            if found is not None:
                return found
    return None


def _attribute_path(value: str) -> Celery | None:
    module_name, _, attr = value.rpartition(":")
    module = _import(module_name)
    if module is None:
        raise ImproperlyConfigured(f"the module {module_name} was not found")
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
    if isinstance(target, Celery):
        return target
    if isinstance(target, types.ModuleType):
        return _app_in_module(target, [])
    raise ImproperlyConfigured(f"{value} is not a Celery application")


def find_app(value: str) -> Celery:
    """The app ``value`` names.

    Raises:
        ImproperlyConfigured: with one line saying what was tried.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if ":" in value:
            found = _attribute_path(value)
            if found is None:
                raise ImproperlyConfigured(f"no Celery application in {value}")
            return found
        tried: list[str] = []
        found = _search(value, tried)
        if found is None and "." in value:
            module_name, _, attr = value.rpartition(".")
            parent = _import(module_name)
            candidate = getattr(parent, attr, None) if parent is not None else None
            if isinstance(candidate, Celery):
                return candidate
        if found is None:
            raise ImproperlyConfigured(f"no Celery application found (tried {', '.join(tried)})")
        return found
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            f"Unable to load celeriac application from {value!r}: {exc}"
        ) from exc
    except Exception as exc:
        raise ImproperlyConfigured(
            f"Unable to load celeriac application from {value!r}: importing it raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
