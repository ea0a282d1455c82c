"""Loading plugin classes by path (``module:Class``) and by entry-point name."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["entry_point_path", "load_plugin"]

#: Client libraries that come with an extra, to say which one is missing.
_EXTRAS = {"redis": "redis", "aiormq": "amqp", "pamqp": "amqp"}


def load_plugin(path: str, base: type[Any], what: str) -> type[Any]:
    """The class at ``module:Class`` ``path``, which must subclass ``base``.

    Raises:
        ImproperlyConfigured: the class is not a ``base``, or its client library (an
            extra) is not installed.
    """
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(exc.name or "")
        if extra is not None:
            raise ImproperlyConfigured(
                f"the {what} {path} needs {exc.name}: pip install 'celeriac[{extra}]'"
            ) from exc
        raise
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ImproperlyConfigured(f"{path} is not a celeriac {what} class")
    return cls


def entry_point_path(group: str, name: str) -> str | None:
    """The ``module:Class`` registered under ``name`` in entry-point ``group``, if any."""
    for entry in entry_points(group=group):
        if entry.name == name:
            return entry.value
    return None
