"""How to connect to RabbitMQ: a Celery-style AMQP URL and options, made into settings.

The broker URL (``amqp://``, ``amqps://``, ``pyamqp://``), ``broker_use_ssl`` and
``broker_heartbeat`` (the app adds them to ``broker_transport_options`` as ``ssl`` and
``heartbeat``, as kombu does) become one :class:`ConnectionSettings`: the URL aiormq
is given, an SSL context, the connect timeout and the client properties.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from celeriac._internal.tls import amqp_context, use_ssl_value
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["ConnectionSettings", "connection_settings"]

_SCHEMES = {"amqp": "amqp", "pyamqp": "amqp", "amqps": "amqps", "pyamqps": "amqps"}
_PORTS = {"amqp": 5672, "amqps": 5671}
_TLS_QUERY = ("cafile", "capath", "certfile", "keyfile", "no_verify_ssl")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How to connect.

    Attributes:
        url: The aiormq URL (vhost quoted, ``heartbeat`` and ``timeout`` in the query).
        ssl_context: TLS settings for ``amqps://`` (default: verify with system CAs).
        server_hostname: The name the server's certificate is checked against (and sent
            for SNI), when it is not the URL's host.
        connect_timeout: Seconds to wait for the connection to open.
        client_properties: Shown in RabbitMQ's management UI.
    """

    url: str
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    connect_timeout: float = 4.0
    client_properties: dict[str, Any] = field(default_factory=dict)


def _heartbeat(value: Any) -> int:
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"broker_heartbeat must be a number, not {value!r}") from exc
    if seconds < 0:
        raise ImproperlyConfigured(f"broker_heartbeat must not be negative, not {value!r}")
    return int(seconds)


def _tls(scheme: str, options: Mapping[str, Any]) -> tuple[bool, ssl.SSLContext | None, str | None]:
    """Whether to use TLS, the context (``None``: aiormq's, from the URL) and SNI name."""
    use_ssl = use_ssl_value(options.get("ssl"))
    context = options.get("ssl_context")
    if context is not None and not isinstance(context, ssl.SSLContext):
        raise ImproperlyConfigured("broker_transport_options['ssl_context'] must be an SSLContext")
    server_hostname = None
    if isinstance(use_ssl, Mapping) and use_ssl:
        server_hostname = use_ssl.get("server_hostname")
        if context is None:
            context = amqp_context(use_ssl)
    return scheme == "amqps" or bool(use_ssl), context, server_hostname


def connection_settings(url: str, options: Mapping[str, Any]) -> ConnectionSettings:
    """Turn a Celery-style AMQP URL and options into connection settings.

    ``options`` are ``broker_transport_options`` with ``ssl`` (``broker_use_ssl``) and
    ``heartbeat`` (``broker_heartbeat``) added by the app, as kombu passes them; a
    ``heartbeat`` in the URL's query wins.

    Raises:
        ImproperlyConfigured: the URL is not an AMQP URL, or an option is invalid.
    """
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None:
        raise ImproperlyConfigured(f"broker URL {url!r} is not an amqp:// URL")
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    user = unquote(parts.username or "guest")
    password = unquote(parts.password or "guest")
    heartbeat = _heartbeat(query.get("heartbeat", options.get("heartbeat", 120)))
    timeout = float(options.get("connect_timeout", query.get("connect_timeout", 4.0)))
    params: dict[str, Any] = {"heartbeat": heartbeat, "timeout": max(1, int(timeout))}
    params.update({key: query[key] for key in _TLS_QUERY if key in query})
    tls, context, server_hostname = _tls(scheme, options)
    scheme = "amqps" if tls else "amqp"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    target = (
        f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:"
        f"{parts.port or _PORTS[scheme]}/{'' if vhost == '/' else quote(vhost, safe='')}"
        f"?{urlencode(params)}"
    )
    name = str(options.get("client_name") or f"celeriac@{socket.gethostname()}")
    return ConnectionSettings(
        url=target,
        ssl_context=context,
        server_hostname=None if server_hostname is None else str(server_hostname),
        connect_timeout=timeout,
        client_properties={"connection_name": name, "product": "celeriac"},
    )
