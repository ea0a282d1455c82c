"""Celery's ``broker_use_ssl`` setting, turned into what the client libraries take.

The setting is ``False`` (no TLS unless the URL asks for it), ``True`` (TLS, the server
certificate verified against the system's CAs) or a dict whose keys depend on the
broker, as in Celery:

- AMQP (py-amqp's names): ``keyfile``, ``certfile``, ``ca_certs``, ``cert_reqs``,
  ``server_hostname``, ``ciphers``. Made into an :class:`ssl.SSLContext`.
- Redis (redis-py's names): ``ssl_keyfile``, ``ssl_certfile``, ``ssl_ca_certs``,
  ``ssl_cert_reqs``. Made into redis-py keyword arguments.

``cert_reqs`` is an :class:`ssl.VerifyMode` or its name (``CERT_REQUIRED``,
``required`` ...). With ``CERT_REQUIRED`` (the default) the host name is checked too.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = [
    "CERT_REQS",
    "amqp_context",
    "cert_reqs",
    "connect_failure",
    "redis_kwargs",
    "use_ssl_value",
]

CERT_REQS = {
    "CERT_REQUIRED": ssl.CERT_REQUIRED,
    "CERT_OPTIONAL": ssl.CERT_OPTIONAL,
    "CERT_NONE": ssl.CERT_NONE,
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
}
_AMQP_KEYS = ("keyfile", "certfile", "ca_certs", "cert_reqs", "server_hostname", "ciphers")
_REDIS_KEYS = ("ssl_keyfile", "ssl_certfile", "ssl_ca_certs", "ssl_cert_reqs")


def use_ssl_value(value: Any) -> bool | Mapping[str, Any]:
    """Check the type of a ``broker_use_ssl`` value (bool or dict).

    Raises:
        ImproperlyConfigured: it is neither.

    """
    if value is None:
        return False
    if isinstance(value, bool | Mapping):
        return value
    raise ImproperlyConfigured(
        f"broker_use_ssl must be True, False or a dict, not {type(value).__name__}"
    )


def cert_reqs(value: Any, name: str = "cert_reqs") -> ssl.VerifyMode:
    """``value`` as an :class:`ssl.VerifyMode` (a mode, its number or its name).

    Raises:
        ImproperlyConfigured: it names no verify mode.

    """
    if isinstance(value, str) and value in CERT_REQS:
        return CERT_REQS[value]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return ssl.VerifyMode(value)
        except ValueError:
            pass
    raise ImproperlyConfigured(
        f"{name} must be CERT_REQUIRED, CERT_OPTIONAL or CERT_NONE, not {value!r}"
    )


def _check_keys(options: Mapping[str, Any], allowed: tuple[str, ...], broker: str) -> None:
    unknown = sorted(str(key) for key in options if key not in allowed)
    if unknown:
        raise ImproperlyConfigured(
            f"broker_use_ssl for {broker} does not take {', '.join(unknown)} "
            f"(it takes {', '.join(allowed)})"
        )


def amqp_context(options: Mapping[str, Any]) -> ssl.SSLContext:
    """An SSL context from a ``broker_use_ssl`` dict with py-amqp's keys.

    Raises:
        ImproperlyConfigured: an unknown key, a bad ``cert_reqs``, a file that cannot
            be read.

    """
    _check_keys(options, _AMQP_KEYS, "AMQP")
    mode = cert_reqs(options.get("cert_reqs", ssl.CERT_REQUIRED))
    certfile, keyfile = options.get("certfile"), options.get("keyfile")
    if keyfile and not certfile:
        raise ImproperlyConfigured("broker_use_ssl: keyfile needs certfile")
    try:
        context = ssl.create_default_context(cafile=options.get("ca_certs"))
        if certfile:
            context.load_cert_chain(certfile, keyfile)
        if options.get("ciphers"):
            context.set_ciphers(str(options["ciphers"]))
    except (OSError, ssl.SSLError) as exc:
        raise ImproperlyConfigured(f"broker_use_ssl: cannot load the TLS files: {exc}") from exc
    context.check_hostname = mode == ssl.CERT_REQUIRED
    context.verify_mode = mode
    return context


def redis_kwargs(value: bool | Mapping[str, Any]) -> dict[str, Any]:
    """redis-py keyword arguments for a ``broker_use_ssl`` value (``{}`` when off).

    Raises:
        ImproperlyConfigured: an unknown key or a bad ``ssl_cert_reqs``.

    """
    if value is False or (isinstance(value, Mapping) and not value):
        return {}
    options: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    _check_keys(options, _REDIS_KEYS, "Redis")
    kwargs: dict[str, Any] = {
        "ssl": True,
        "ssl_cert_reqs": cert_reqs(options.get("ssl_cert_reqs", "required"), "ssl_cert_reqs"),
    }
    for name in ("ssl_keyfile", "ssl_certfile", "ssl_ca_certs"):
        if options.get(name):
            kwargs[name] = str(options[name])
    return kwargs


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def connect_failure(exc: BaseException, *, tls: bool, how_to_use_tls: str) -> str | None:
    """Why a connection failed, in one line, when TLS is the likely reason; else ``None``.

    A refused certificate and a failed handshake are named as such; a plain-text client
    whose connection the server drops at once is told the port may speak TLS, and
    ``how_to_use_tls``.
    """
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message}"
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or str(cause)
            return f"TLS handshake failed ({reason}); is it a TLS port?"
    if not tls and any(isinstance(c, ConnectionResetError | EOFError) for c in causes):
        return (
            "the server dropped the connection at once; "
            f"if the port speaks TLS, use {how_to_use_tls}"
        )
    return None
