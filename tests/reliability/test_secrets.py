"""Secrets never printed: what ``inspect conf`` (worker/control.py ``_masked``) hides.

Top-level URLs with a password and settings named like a secret are masked; the cases
marked ``xfail`` leak today (see the reasons; the fix belongs in worker/control.py and
_internal/naming.py).
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


LEAKS = "worker/control.py:156 _masked only looks at top-level strings"


def _leak(key: str, value: Any, why: str) -> Any:
    return pytest.param(key, value, marks=pytest.mark.xfail(strict=True, reason=why))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        _leak(
            "broker_transport_options",
            {"sentinel_kwargs": {"password": SECRET}},
            f"{LEAKS}: dicts are not searched",
        ),
        _leak(
            "broker_url",
            [f"redis://:{SECRET}@a:6379/0", f"redis://:{SECRET}@b:6379/0"],
            f"{LEAKS}: lists of URLs are not masked",
        ),
        _leak(
            "broker_url",
            f"amqp://u:p@a//;amqp://u:{SECRET}@b//",
            "_internal/naming.py:46 mask_url masks only the first URL of a ';' failover list",
        ),
        _leak(
            "result_backend",
            f"redis://localhost:6379/0?password={SECRET}",
            "_internal/naming.py:46 mask_url ignores a password given as a query parameter",
        ),
    ],
)
def test_leaks(key: str, value: Any) -> None:
    assert SECRET not in repr(_masked(key, value))
