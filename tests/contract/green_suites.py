"""The pool conformance suites on the greenlet pools, in a process patched first.

Not collected by the main test run (the name does not start with ``test_``):
tests/contract/test_pools.py runs each class here in a pytest process that patched
the standard library for its library before importing anything else.
"""

from __future__ import annotations

import pytest

from celeriac.pools.base import Pool, Target
from celeriac.testing.conformance import PoolFactory, SupervisingPoolConformance


class TestGeventPool(SupervisingPoolConformance):
    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        from celeriac.pools.gevent import GeventPool

        def make(concurrency: int, target: Target) -> Pool:
            return GeventPool(concurrency=concurrency, target=target)

        return make


class TestEventletPool(SupervisingPoolConformance):
    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        from celeriac.pools.eventlet import EventletPool

        def make(concurrency: int, target: Target) -> Pool:
            return EventletPool(concurrency=concurrency, target=target)

        return make
