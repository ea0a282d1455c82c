"""Reading ``broker_transport_options`` values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["broker_options", "float_option"]


def broker_options(
    transport_options: Mapping[str, Any], *, use_ssl: Any, heartbeat: Any
) -> dict[str, Any]:
    """What a broker is built with: ``broker_transport_options`` plus two settings.

    ``broker_use_ssl`` and ``broker_heartbeat`` go in as ``ssl`` and ``heartbeat``, the
    names kombu gives them; a transport option of the same name wins, as in kombu.
    """
    return {"ssl": use_ssl, "heartbeat": heartbeat, **transport_options}


def float_option(options: Mapping[str, Any], name: str, default: float) -> float:
    """Read the transport option ``name`` as a positive number of seconds.

    Returns ``default`` when the option is absent.

    Raises:
        ImproperlyConfigured: the value is not a positive number.

    """
    value = options.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"transport option {name!r} must be a number of seconds, not {value!r}"
        ) from exc
    if isinstance(value, bool) or number <= 0:
        raise ImproperlyConfigured(
            f"transport option {name!r} must be a positive number of seconds, not {value!r}"
        )
    return number
