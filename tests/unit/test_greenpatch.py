"""Which command lines patch for a greenlet pool (the patching itself: tests/e2e)."""

from __future__ import annotations

import pytest

from celeriac._internal.greenpatch import green_pool_requested


@pytest.mark.parametrize(
    ("argv", "pool"),
    [
        (["-A", "proj", "worker", "-P", "gevent"], "gevent"),
        (["worker", "--pool", "eventlet", "-c", "100"], "eventlet"),
        (["worker", "--pool=gevent"], "gevent"),
        (["worker", "-Pgevent"], "gevent"),
        (["worker", "-P", "GEVENT"], "gevent"),
        (["worker", "-P", "threads"], None),
        (["worker"], None),
        (["worker", "-P"], None),
        (["multi", "start", "w1", "-P", "gevent"], None),  # multi's workers patch themselves
    ],
)
def test_green_pool_requested(argv: list[str], pool: str | None) -> None:
    assert green_pool_requested(argv) == pool
