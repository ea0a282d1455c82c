"""Node names (``celery@host``, ``%h``/``%n``/``%d``) and URLs safe to print."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DEFAULT_NODE_PREFIX", "default_nodename", "expand_hostname", "mask_url"]

DEFAULT_NODE_PREFIX = "celery"


def expand_hostname(template: str, hostname: str | None = None) -> str:
    """Expand ``%h`` (host), ``%n`` (host before the first dot), ``%d`` (domain), ``%%``.

    Raises:
        ValueError: an unknown ``%`` letter is used.
    """
    host = hostname or socket.gethostname()
    name, _, domain = host.partition(".")
    values = {"h": host, "n": name, "d": domain, "%": "%"}
    out: list[str] = []
    chars = iter(template)
    for ch in chars:
        if ch != "%":
            out.append(ch)
            continue
        letter = next(chars, "")
        if letter not in values:
            raise ValueError(f"unknown format %{letter} in node name {template!r}")
        out.append(values[letter])
    return "".join(out)


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
    """``url`` with its password replaced by ``**`` (for banners, logs and replies)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    # Split the netloc by hand: ``hostname`` would lower-case it and drop IPv6 brackets.
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:**@{host}", parts.path, parts.query, parts.fragment))
