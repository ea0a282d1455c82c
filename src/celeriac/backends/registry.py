"""Result-backend URL schemes to classes: built-ins, then ``celeriac.result_backends``.

Every backend class has a ``from_url(url, **options)`` class method taking the
:class:`~celeriac.backends.base.ResultBackend` keyword options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from celeriac._internal.plugins import entry_point_path, load_plugin
from celeriac.backends.base import ResultBackend
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["backend_from_url"]

_BUILTIN = {
    "sqlite": "celeriac.backends.sqlite:SQLiteBackend",
    "db+sqlite": "celeriac.backends.sqlite:SQLiteBackend",
    "cache+memory": "celeriac.backends.memory:MemoryBackend",
    "memory": "celeriac.backends.memory:MemoryBackend",
    "rpc": "celeriac.backends.rpc:RPCBackend",
    "redis": "celeriac.backends.redis:RedisBackend",
    "rediss": "celeriac.backends.redis:RedisBackend",
    "redis+socket": "celeriac.backends.redis:RedisBackend",
}
#: Built-in schemes whose backends take ``result_backend_transport_options``.
_TAKES_TRANSPORT_OPTIONS = ("redis", "rediss", "redis+socket")
_NOT_YET: tuple[str, ...] = ()


def _load(path: str) -> type[ResultBackend]:
    cls: type[ResultBackend] = load_plugin(path, ResultBackend, "result backend")
    return cls


def backend_from_url(
    url: str, *, transport_options: Mapping[str, Any] | None = None, **options: Any
) -> ResultBackend:
    """Build the result backend for ``url`` (not yet opened).

    ``transport_options`` (``result_backend_transport_options``) go to the backends
    that take them (Redis) and are ignored by the others.

    Raises:
        ImproperlyConfigured: no backend handles the scheme.
    """
    scheme = urlsplit(url).scheme or url.partition(":")[0]
    if not scheme:
        raise ImproperlyConfigured(f"result backend URL {url!r} has no scheme")
    path = _BUILTIN.get(scheme) or entry_point_path("celeriac.result_backends", scheme)
    if path is None:
        if scheme in _NOT_YET:
            raise ImproperlyConfigured(
                f"the {scheme}:// result backend is not available in this version of celeriac"
            )
        raise ImproperlyConfigured(f"no result backend for URL scheme {scheme!r} in {url!r}")
    cls = _load(path)
    if transport_options and scheme in _TAKES_TRANSPORT_OPTIONS:
        options["transport_options"] = dict(transport_options)
    return cls.from_url(url, **options)
