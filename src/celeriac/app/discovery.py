"""Finding task modules for ``app.autodiscover_tasks()``, as Celery does.

For each package, ``<package>.<related_name>`` (``tasks``) is imported if it exists. A
name that is not a module, such as a Django ``INSTALLED_APPS`` entry naming an app
config class (``polls.apps.PollsConfig``), stands for the package holding it
(``polls``). With no packages, the installed Django apps are used when Django is
configured (``DJANGO_SETTINGS_MODULE`` set, or ``settings.configure()`` called);
Django is set up first if it is not yet.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, TypeAlias

from celeriac.app.config import environment_variable

__all__ = ["PackageSource", "discover_tasks", "django_app_names", "find_related_module"]

#: What ``autodiscover_tasks`` accepts: names, a callable returning them (evaluated at
#: discovery time, e.g. ``lambda: settings.INSTALLED_APPS``), or None for Django's apps.
PackageSource: TypeAlias = Iterable[str] | Callable[[], Iterable[str]] | None


def discover_tasks(packages: PackageSource, related_name: str = "tasks") -> list[ModuleType]:
    """Import the ``related_name`` module of each package; return those that exist."""
    names = packages() if callable(packages) else packages
    if names is None:
        names = django_app_names()
    found = (find_related_module(package, related_name) for package in names)
    return [module for module in found if module is not None]


def find_related_module(package: str, related_name: str) -> ModuleType | None:
    """Import ``<package>.<related_name>``; None if the package has no such module.

    Raises:
        ModuleNotFoundError: the package does not exist, or the module itself imports
            something missing (that error is the user's to see, not a "no tasks").
    """
    module_name = f"{_app_package(package)}.{related_name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def _app_package(name: str) -> str:
    """``name``, or for an app config class path the package holding its module."""
    try:
        importlib.import_module(name)
        return name
    except ModuleNotFoundError as exc:
        if exc.name != name or "." not in name:
            raise
    # "polls.apps.PollsConfig" (a Django INSTALLED_APPS entry) is the app "polls".
    candidate = name.rpartition(".")[0]
    while "." in candidate and not hasattr(importlib.import_module(candidate), "__path__"):
        candidate = candidate.rpartition(".")[0]
    return candidate


def django_app_names() -> list[str]:
    """The names of the installed Django apps; empty when Django is not configured."""
    if not environment_variable("DJANGO_SETTINGS_MODULE"):
        conf = sys.modules.get("django.conf")
        if conf is None or not conf.settings.configured:
            return []
    try:
        # Imported by name: Django is optional and ships no type information.
        django: Any = importlib.import_module("django")
        registry: Any = importlib.import_module("django.apps").apps
    except ImportError:
        return []
    if not registry.ready:
        django.setup()
    return [config.name for config in registry.get_app_configs()]
