"""Chains and chords cross between Celery and celeriac on one Redis, both ways."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import _redis_env

pytestmark = [
    pytest.mark.redis,
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]
make_redis_env = _redis_env.make_redis_env  # the fixture


def test_celery_client_chain_and_chord_complete_on_celeriac_workers(
    make_redis_env: Any,
) -> None:
    env = make_redis_env()
    env.celeriac_worker("-c", "4")
    peer = env.module("rpeer_tasks")
    from celery import chain, chord, group

    assert chain(peer.add.s(4, 4), peer.mul.s(8))().get(timeout=20) == 64
    result = chord((peer.add.s(i, i) for i in range(10)), peer.xsum.s())()
    assert result.get(timeout=20) == 90
    assert (group(peer.add.s(i, i) for i in range(5)) | peer.xsum.s())().get(timeout=20) == 20
    # celeriac reads what Celery's client started, and the reverse.
    cel = env.module("rcel_tasks")
    assert cel.app.AsyncResult(result.id).get(timeout=20) == 90


def test_celeriac_client_chain_and_chord_complete_on_a_celery_worker(
    make_redis_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IT_HOLD_ETA", "0")
    env = make_redis_env()
    env.celery_worker()
    cel = env.module("rcel_tasks")
    from celeriac import chain, chord

    assert chain(cel.add.s(4, 4), cel.mul.s(8))().get(timeout=20) == 64
    result = chord((cel.add.s(i, i) for i in range(10)), cel.xsum.s())()
    assert result.get(timeout=20) == 90
    peer = env.module("rpeer_tasks")
    assert peer.app.AsyncResult(result.id).get(timeout=20) == 90


def test_a_chord_split_across_celery_and_celeriac_workers(make_redis_env: Any) -> None:
    env = make_redis_env()
    env.celeriac_worker("-c", "2")
    env.celery_worker()
    cel = env.module("rcel_tasks")
    from celeriac import chord

    result = chord((cel.add.s(i, i) for i in range(40)), cel.xsum.s())()
    assert result.get(timeout=30) == sum(2 * i for i in range(40))
