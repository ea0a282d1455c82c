"""Secrets never printed: what ``inspect conf`` (worker/control.py ``_masked``) hides.

URLs with a password (in the user part, as a query parameter, in every URL of a
failover list), settings named like a secret, and the same nested in dicts and lists.
"""

from __future__ import annotations

from typing import Any

import pytest

from celeriac.worker.control import _masked

pytestmark = pytest.mark.reliability

SECRET = "s3cr3t-value"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("broker_url", f"redis://:{SECRET}@localhost:6379/0"),
        ("result_backend", f"amqp://user:{SECRET}@localhost//"),
        ("security_key_password", SECRET),
        ("security_hmac_key", SECRET),
        ("database_password", SECRET),
    ],
)
def test_masked(key: str, value: Any) -> None:
    assert SECRET not in repr(_masked(key, value))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("broker_transport_options", {"sentinel_kwargs": {"password": SECRET}}),
        ("broker_url", [f"redis://:{SECRET}@a:6379/0", f"redis://:{SECRET}@b:6379/0"]),
        ("broker_url", f"amqp://u:p@a//;amqp://u:{SECRET}@b//"),
        ("result_backend", f"redis://localhost:6379/0?password={SECRET}"),
    ],
)
def test_nested_and_unusual_secrets(key: str, value: Any) -> None:
    assert SECRET not in repr(_masked(key, value))
