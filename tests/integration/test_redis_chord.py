"""The Redis backend's chord join (Celery 5.7's keys and script) and URL parsing."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac._internal.redis_url import connection_kwargs, prefixed
from celeriac.backends.redis import RedisBackend
from celeriac.exceptions import ImproperlyConfigured


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(redis_url)
    yield backend
    backend.close()


@pytest.mark.redis
def test_chord_join_counts_each_part_once_and_completes_once(
    backend: RedisBackend, redis_url: str
) -> None:
    import redis

    group_id, ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    backend.apply_chord(group_id, ids)
    raw = redis.Redis.from_url(redis_url)
    base = f"celery-taskset-meta-{group_id}"
    assert raw.get(base + ".s") == b"3"
    for index in (2, 0):
        backend.mark_as_done(ids[index], index * 10)
        assert backend.on_chord_part_return(group_id, ids[index], index, "SUCCESS") is None
    # A redelivered header task reports again: not counted twice.
    assert backend.on_chord_part_return(group_id, ids[0], 0, "SUCCESS") is None
    backend.mark_as_failure(ids[1], KeyError("x"))
    metas = backend.on_chord_part_return(group_id, ids[1], 1, "FAILURE")
    assert metas is not None
    assert [m["task_id"] for m in metas] == ids  # header order, not finishing order
    assert [m["status"] for m in metas] == ["SUCCESS", "FAILURE", "SUCCESS"]
    assert metas[0]["result"] == 0 and metas[2]["result"] == 20
    assert isinstance(metas[1]["result"], KeyError)
    assert raw.get(base + ".c") == b"done"
    assert not raw.exists(base + ".j", base + ".s", base + ".d", base + ".t")
    assert backend.on_chord_part_return(group_id, ids[1], 1, "FAILURE") is None  # late copy
    raw.close()


@pytest.mark.redis
def test_chord_size_can_grow(backend: RedisBackend) -> None:
    group_id, ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(2)]
    backend.apply_chord(group_id, ids[:1])
    backend.add_to_chord(group_id)  # e.g. a header task replaced itself
    backend.mark_as_done(ids[0], 1)
    assert backend.on_chord_part_return(group_id, ids[0], 0, "SUCCESS") is None
    backend.mark_as_done(ids[1], 2)
    metas = backend.on_chord_part_return(group_id, ids[1], 1, "SUCCESS")
    assert metas is not None and [m["result"] for m in metas] == [1, 2]


@pytest.mark.redis
def test_incr_counts(backend: RedisBackend) -> None:
    key = f"counter-{uuid.uuid4()}"
    assert [backend.incr(key, ttl=60) for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://", {"host": "localhost", "port": 6379, "db": 0}),
        ("redis://:s%40cret@h:7000/3", {"host": "h", "port": 7000, "db": 3, "password": "s@cret"}),
        ("redis://u:p@h/0", {"host": "h", "port": 6379, "db": 0, "username": "u", "password": "p"}),
        ("redis+socket:///tmp/r.sock?virtual_host=2", {"unix_socket_path": "/tmp/r.sock", "db": 2}),
        ("unix:///tmp/r.sock?db=4", {"unix_socket_path": "/tmp/r.sock", "db": 4}),
    ],
)
def test_url_forms(url: str, expected: dict[str, Any]) -> None:
    assert connection_kwargs(url) == expected


def test_tls_url() -> None:
    kwargs = connection_kwargs("rediss://h:6380/1?ssl_cert_reqs=CERT_NONE&ssl_ca_certs=/ca.pem")
    assert kwargs["ssl"] is True
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_NONE
    assert kwargs["ssl_ca_certs"] == "/ca.pem"


@pytest.mark.parametrize(
    "url",
    ["redis://h/x", "redis://h?ssl_cert_reqs=required", "rediss://h?ssl_cert_reqs=maybe", "x://h"],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        connection_kwargs(url)


def test_result_key_prefix_is_celerys() -> None:
    assert prefixed("", "k") == "k"
    assert prefixed("app", "k") == "app_k"
    assert prefixed("app:", "k") == "app:k"
