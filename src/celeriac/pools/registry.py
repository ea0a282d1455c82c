"""Pool names to classes: a built-in table, then the ``celeriac.pools`` entry points.

``custom`` names the class given separately (the worker reads it from
``CELERY_CUSTOM_WORKER_POOL``, as Celery does, or ``CELERIAC_CUSTOM_WORKER_POOL``), and
a ``module:Class`` path names a pool class directly, so ``worker_pool`` may hold
either a name or a path.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools.base import Pool

__all__ = ["POOL_NAMES", "pool_class"]

_BUILTIN = {
    "prefork": "celeriac.pools.prefork:PreforkPool",
    "processes": "celeriac.pools.prefork:PreforkPool",
    "threads": "celeriac.pools.threads:ThreadPool",
    "solo": "celeriac.pools.solo:SoloPool",
    "asyncio": "celeriac.pools.asyncio:AsyncioPool",
}
#: The greenlet pools, each needing the package (and extra) of the same name.
_GREEN = {
    "gevent": "celeriac.pools.gevent:GeventPool",
    "eventlet": "celeriac.pools.eventlet:EventletPool",
}
#: Names ``-P`` accepts, in the order ``--help`` lists them.
POOL_NAMES = ("prefork", "processes", "threads", "solo", "asyncio", "gevent", "eventlet", "custom")


def _load(path: str) -> type[Pool]:
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"cannot load pool class {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Pool)):
        raise ImproperlyConfigured(f"{path} is not a celeriac Pool class")
    return cls


def _load_green(name: str) -> type[Pool]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"the {name} pool needs the {name} package: pip install 'celeriac[{name}]'"
        ) from exc
    return _load(_GREEN[name])


def pool_class(name: str, *, custom: str | None = None) -> type[Pool]:
    """The pool class called ``name`` (or at the ``module:Class`` path ``name``).

    Args:
        name: A pool name, ``custom``, or a ``module:Class`` path.
        custom: The ``module:Class`` path ``custom`` stands for.

    Raises:
        ImproperlyConfigured: no pool has that name, or it cannot be loaded.
    """
    if name in _BUILTIN:
        return _load(_BUILTIN[name])
    if name == "custom":
        if not custom:
            raise ImproperlyConfigured(
                "-P custom needs a pool class: set CELERY_CUSTOM_WORKER_POOL to 'module:Class'"
            )
        return _load(custom)
    if ":" in name:
        return _load(name)
    if name in _GREEN:
        return _load_green(name)
    for entry in entry_points(group="celeriac.pools"):
        if entry.name == name:
            return _load(entry.value)
    known = ", ".join(POOL_NAMES)
    raise ImproperlyConfigured(f"unknown pool {name!r} (known: {known})")
