"""Fixtures for the external services the tests use (Redis).

The server comes from ``CELERIAC_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``).
Tests that need it are skipped when it cannot be reached, except in CI (``CI=true``),
where they fail: a CI run must never pass by skipping them.

Each test gets a database of its own session (``redis_test_db``), emptied before and
after the test, so celeriac and Celery peers in one test share it and tests never see
each other's keys.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# A project of its own with its own tests; tests/unit/contrib/test_sample_project.py runs
# them in a separate pytest session.
collect_ignore = ["sample_project"]


def _service_unavailable(what: str, url: str, error: Exception) -> None:
    message = f"{what} at {url} is unreachable: {error}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: services must be up)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The base URL (no database) of a reachable Redis server."""
    import redis

    url = os.environ.get("CELERIAC_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        _service_unavailable("Redis", url, exc)
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def redis_test_db(redis_server: str) -> Iterator[int]:
    """A database number no other test session on this server is using.

    ``CELERIAC_TEST_REDIS_DB`` picks one; otherwise databases 15, 14, ... 1 are tried
    and one is claimed with a key in database 0 for the session, so two test runs on
    one machine never empty each other's database.
    """
    import redis

    if "CELERIAC_TEST_REDIS_DB" in os.environ:
        yield int(os.environ["CELERIAC_TEST_REDIS_DB"])
        return
    client = redis.Redis.from_url(f"{redis_server}/0")
    token = f"{os.getpid()}-{os.urandom(4).hex()}"
    try:
        for db in range(15, 0, -1):
            if client.set(f"celeriac-tests:db:{db}", token, nx=True, ex=3 * 3600):
                break
        else:
            pytest.fail("every Redis test database (1-15) is claimed by another test run")
        yield db
        if client.get(f"celeriac-tests:db:{db}") == token.encode():
            client.delete(f"celeriac-tests:db:{db}")
    finally:
        client.close()


@pytest.fixture
def redis_url(redis_server: str, redis_test_db: int) -> Iterator[str]:
    """A Redis URL on a test database that is empty when the test starts and ends."""
    import redis

    url = f"{redis_server}/{redis_test_db}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        yield url
        client.flushdb()
    finally:
        client.close()


# -- RabbitMQ -----------------------------------------------------------------------


def _amqp_reachable(host: str, port: int, patience: float) -> Exception | None:
    """None once a TCP connection to RabbitMQ succeeds, else the last error."""
    import socket
    import time

    deadline = time.monotonic() + patience
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            return None
        except OSError as exc:
            if time.monotonic() >= deadline:
                return exc
            time.sleep(0.5)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The URL of a reachable RabbitMQ (``CELERIAC_TEST_AMQP_URL``).

    In CI the server may still be starting (``rabbitmq-server -detached``), so it gets
    up to a minute there; locally one quick try decides whether to skip.
    """
    from urllib.parse import urlsplit

    pytest.importorskip("aiormq")
    url = os.environ.get("CELERIAC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
    parts = urlsplit(url)
    in_ci = os.environ.get("CI", "").lower() == "true"
    error = _amqp_reachable(parts.hostname or "127.0.0.1", parts.port or 5672, 60 if in_ci else 0)
    if error is not None:
        _service_unavailable("RabbitMQ", url, error)
    return url
