"""Every built-in result backend passes the shared backend conformance suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac.backends.base import ResultBackend
from celeriac.backends.memory import MemoryBackend
from celeriac.backends.sqlite import SQLiteBackend
from celeriac.testing.conformance import BackendConformance, BackendFactory


class TestSQLiteBackend(BackendConformance):
    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        url = f"sqlite:///{tmp_path / 'results.sqlite3'}"

        def make(**options: Any) -> ResultBackend:
            return SQLiteBackend.from_url(url, **options)

        return make


class TestMemoryBackend(BackendConformance):
    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        def make(**options: Any) -> ResultBackend:
            return MemoryBackend.from_url("cache+memory://", **options)

        return make


@pytest.mark.redis
class TestRedisBackend(BackendConformance):
    @pytest.fixture
    def backend_factory(self, redis_url: str) -> BackendFactory:
        from celeriac.backends.redis import RedisBackend

        def make(**options: Any) -> ResultBackend:
            return RedisBackend.from_url(redis_url, **options)

        return make


@pytest.mark.redis
class TestRedisBackendWithKeyPrefix(TestRedisBackend):
    @pytest.fixture
    def backend_factory(self, redis_url: str) -> BackendFactory:
        from celeriac.backends.redis import RedisBackend

        def make(**options: Any) -> ResultBackend:
            prefix = {"global_keyprefix": "tenant"}
            return RedisBackend.from_url(redis_url, transport_options=prefix, **options)

        return make
