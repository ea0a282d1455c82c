"""Node names (``celery@host``, ``%h``/``%n``/``%d``) and URLs safe to print."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_NODE_PREFIX",
    "default_nodename",
    "expand_hostname",
    "expand_percent",
    "mask_url",
]

DEFAULT_NODE_PREFIX = "celery"


def expand_percent(template: str, values: dict[str, str], *, what: str = "") -> str:
    """Replace each ``%<letter>`` in ``template`` by ``values[letter]``.

    Raises:
        ValueError: a letter without a value (``what`` names the template in the message).
    """
    out: list[str] = []
    chars = iter(template)
    for ch in chars:
        if ch != "%":
            out.append(ch)
            continue
        letter = next(chars, "")
        if letter not in values:
            raise ValueError(f"unknown format %{letter} in {what}{template!r}")
        out.append(values[letter])
    return "".join(out)


def expand_hostname(template: str, hostname: str | None = None) -> str:
    """Expand ``%h`` (host), ``%n`` (host before the first dot), ``%d`` (domain), ``%%``.

    Raises:
        ValueError: an unknown ``%`` letter is used.
    """
    host = hostname or socket.gethostname()
    name, _, domain = host.partition(".")
    values = {"h": host, "n": name, "d": domain, "%": "%"}
    return expand_percent(template, values, what="node name ")


def default_nodename(value: str | None, hostname: str | None = None) -> str:
    """The node name for ``-n``: ``celery@<host>`` by default; ``x`` means ``celery@x``."""
    if not value:
        value = f"{DEFAULT_NODE_PREFIX}@%h"
    elif "@" not in value:
        value = f"{DEFAULT_NODE_PREFIX}@{value}"
    elif value.endswith("@"):  # ``-n name@``: this host, as Celery does
        value = f"{value}%h"
    return expand_hostname(value, hostname)


def mask_url(url: str) -> str:
    """``url`` with its passwords replaced by ``**`` (for banners, logs and replies).

    Covers the password in the user part, a ``password=`` query parameter, and every URL
    of a ``;``-separated failover list.
    """
    if ";" in url:
        return ";".join(mask_url(part) for part in url.split(";"))
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        # Split the netloc by hand: ``hostname`` would lower-case it and drop IPv6 brackets.
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:**@{host}"
    if query:
        query = "&".join(
            f"{key}=**" if key.lower() in _SECRET_QUERY_KEYS else f"{key}={value}" if sep else key
            for key, sep, value in (pair.partition("=") for pair in query.split("&"))
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pass", "secret", "token"})
