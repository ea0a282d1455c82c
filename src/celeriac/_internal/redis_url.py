"""Redis URLs as kombu and Celery read them, turned into redis-py connection arguments.

Pure parsing: no client library is imported here (the broker and the result backend
each import redis-py themselves). Accepted forms::

    redis://[[user]:password@]host[:port][/db]
    rediss://...?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem   (TLS)
    redis+socket:///path/to/redis.sock?virtual_host=1                (Unix socket)
    unix:///path/to/redis.sock?db=1                                  (redis-py's spelling)

The database comes from the path, or from the ``virtual_host`` or ``db`` query
parameter (kombu's and redis-py's names). The password and user name are URL-decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from celeriac._internal.tls import CERT_REQS, redis_kwargs
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["REDIS_SCHEMES", "connection_kwargs", "prefixed"]

REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "unix")

_SSL_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_FLOAT_QUERY = ("socket_timeout", "socket_connect_timeout", "health_check_interval")


def _database(value: str, url: str) -> int:
    text = value.strip("/") or "0"
    try:
        number = int(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Redis database {text!r} in {url!r} is not a number") from exc
    if number < 0:
        raise ImproperlyConfigured(f"Redis database {number} in {url!r} is negative")
    return number


def _tls_kwargs(
    scheme: str, query: dict[str, str], url: str, use_ssl: bool | Mapping[str, Any]
) -> dict[str, Any]:
    """TLS arguments: ``broker_use_ssl`` first, then the URL's own (which win)."""
    kwargs = redis_kwargs(use_ssl)
    if kwargs and scheme in ("redis+socket", "unix"):
        raise ImproperlyConfigured(f"broker_use_ssl does not apply to a Unix socket: {url!r}")
    if scheme != "rediss":
        if any(name in query for name in ("ssl_cert_reqs", *_SSL_FILES)):
            raise ImproperlyConfigured(f"TLS options need a rediss:// URL, not {url!r}")
        return kwargs
    kwargs.setdefault("ssl_cert_reqs", CERT_REQS["CERT_REQUIRED"])
    kwargs["ssl"] = True
    if "ssl_cert_reqs" in query:
        reqs = query.pop("ssl_cert_reqs")
        if reqs not in CERT_REQS:
            raise ImproperlyConfigured(
                f"ssl_cert_reqs must be CERT_REQUIRED, CERT_OPTIONAL or CERT_NONE, not {reqs!r}"
            )
        kwargs["ssl_cert_reqs"] = CERT_REQS[reqs]
    for name in _SSL_FILES:
        if name in query:
            kwargs[name] = unquote(query.pop(name))
    return kwargs


def _query_kwargs(query: dict[str, str], url: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name in _FLOAT_QUERY:
        if name in query:
            try:
                kwargs[name] = float(query.pop(name))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name} in {url!r} is not a number") from exc
    if "client_name" in query:
        kwargs["client_name"] = query.pop("client_name")
    return kwargs


def connection_kwargs(url: str, use_ssl: bool | Mapping[str, Any] = False) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` / ``redis.asyncio.Redis`` from ``url``.

    ``use_ssl`` is ``broker_use_ssl``: ``True`` or a dict of redis-py's TLS arguments
    turns TLS on for a ``redis://`` URL too; a ``rediss://`` URL's query wins over it.

    Raises:
        ImproperlyConfigured: the scheme is not a Redis one, or a value is invalid.

    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in REDIS_SCHEMES:
        raise ImproperlyConfigured(f"{url!r} is not a Redis URL ({', '.join(REDIS_SCHEMES)})")
    query = dict(parse_qsl(parts.query))
    kwargs: dict[str, Any] = {}
    if parts.username:
        kwargs["username"] = unquote(parts.username)
    if parts.password is not None:
        kwargs["password"] = unquote(parts.password)
    db_text = query.pop("virtual_host", None) or query.pop("db", None)
    if scheme in ("redis+socket", "unix"):
        if not parts.path:
            raise ImproperlyConfigured(f"{url!r} names no socket path")
        kwargs["unix_socket_path"] = unquote(parts.path)
        kwargs["db"] = _database(db_text or "0", url)
    else:
        kwargs["host"] = parts.hostname or "localhost"
        try:
            kwargs["port"] = parts.port or 6379
        except ValueError as exc:
            raise ImproperlyConfigured(f"invalid port in Redis URL {url!r}") from exc
        kwargs["db"] = _database(db_text or parts.path or "0", url)
    tls = _tls_kwargs(scheme, query, url, use_ssl)
    return {**kwargs, **tls, **_query_kwargs(query, url)}


def prefixed(prefix: str, key: str) -> str:
    """``key`` under a result backend's ``global_keyprefix``, as Celery joins them.

    A prefix that does not end in ``:``, ``_``, ``-`` or ``.`` gets an ``_`` appended.
    """
    if prefix and prefix[-1] not in ":_-.":
        prefix += "_"
    return prefix + key
