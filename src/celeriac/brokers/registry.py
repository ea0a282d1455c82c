"""Broker URL schemes to classes: a built-in table, then ``celeriac.brokers`` entry points.

Every broker class has a ``from_url(url, *, transport_options)`` class method.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from celeriac._internal.plugins import entry_point_path, load_plugin
from celeriac.brokers.base import Broker
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["DEFAULT_BROKER_URL", "broker_from_url", "scheme_of"]

#: The embedded broker used when none is configured.
DEFAULT_BROKER_URL = "sqlite:///celeriac.sqlite3"

_BUILTIN = {
    "sqlite": "celeriac.brokers.sqlite:SQLiteBroker",
    "memory": "celeriac.brokers.memory:MemoryBroker",
    "redis": "celeriac.brokers.redis:RedisBroker",
    "rediss": "celeriac.brokers.redis:RedisBroker",
    "redis+socket": "celeriac.brokers.redis:RedisBroker",
    "amqp": "celeriac.brokers.amqp:AmqpBroker",
    "amqps": "celeriac.brokers.amqp:AmqpBroker",
    "pyamqp": "celeriac.brokers.amqp:AmqpBroker",
}
_EXTRAS: dict[str, str] = {}


def scheme_of(url: str) -> str:
    """The scheme of ``url`` (``sqlite`` for ``sqlite:///x``)."""
    scheme = urlsplit(url).scheme
    if not scheme:
        raise ImproperlyConfigured(f"broker URL {url!r} has no scheme (e.g. sqlite:///file)")
    return scheme


def _load(path: str) -> type[Broker]:
    cls: type[Broker] = load_plugin(path, Broker, "broker")
    return cls


def broker_from_url(url: str, *, transport_options: dict[str, Any] | None = None) -> Broker:
    """Build the broker for ``url`` (not yet opened).

    Raises:
        ImproperlyConfigured: no broker handles the scheme.
    """
    scheme = scheme_of(url)
    path = _BUILTIN.get(scheme) or entry_point_path("celeriac.brokers", scheme)
    if path is None:
        if scheme in _EXTRAS:
            raise ImproperlyConfigured(
                f"the {scheme}:// broker is not available in this version of celeriac"
            )
        raise ImproperlyConfigured(f"no broker for URL scheme {scheme!r} in {url!r}")
    cls = _load(path)
    return cls.from_url(url, transport_options=dict(transport_options or {}))
