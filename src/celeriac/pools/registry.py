"""Pool names to classes: a built-in table, then the ``celeriac.pools`` entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools.base import Pool

__all__ = ["POOL_NAMES", "pool_class"]

_BUILTIN = {
    "solo": "celeriac.pools.solo:SoloPool",
    "threads": "celeriac.pools.threads:ThreadPool",
}
_NOT_YET = {
    "prefork": "the prefork pool is not available in this version; use -P threads or -P solo",
    "processes": "the prefork pool is not available in this version; use -P threads or -P solo",
}
#: Names ``-P`` accepts, in the order ``--help`` lists them.
POOL_NAMES = ("threads", "solo")


def _load(path: str) -> type[Pool]:
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Pool)):
        raise ImproperlyConfigured(f"{path} is not a celeriac Pool class")
    return cls


def pool_class(name: str) -> type[Pool]:
    """The pool class called ``name``.

    Raises:
        ImproperlyConfigured: no pool has that name.
    """
    if name in _BUILTIN:
        return _load(_BUILTIN[name])
    if name in _NOT_YET:
        raise ImproperlyConfigured(_NOT_YET[name])
    for entry in entry_points(group="celeriac.pools"):
        if entry.name == name:
            return _load(entry.value)
    known = ", ".join(POOL_NAMES)
    raise ImproperlyConfigured(f"unknown pool {name!r} (known: {known})")
