"""The guide's "Calling tasks" section, against a real worker on the embedded broker."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest

from celeriac import states
from celeriac.exceptions import TimeoutError as CeleriacTimeoutError

pytestmark = pytest.mark.e2e


def test_calling_tasks_section(proj: ModuleType, start_worker: Any) -> None:
    start_worker("-Q", "celery,lopri", "-c", "2")
    add = proj.add
    assert add.delay(2, 2).get(timeout=10) == 4
    assert add.apply_async((2, 2)).get(timeout=10) == 4
    assert add(2, 2) == 4

    sent = time.monotonic()
    res = add.apply_async((2, 2), queue="lopri", countdown=1)
    assert res.get(timeout=10) == 4
    assert time.monotonic() - sent >= 1.0  # never before its countdown

    res = add.delay(2, 2)
    assert res.get(timeout=10) == 4
    assert isinstance(res.id, str) and len(res.id) == 36

    res = add.delay(2, "2")
    with pytest.raises(TypeError, match="unsupported operand"):
        res.get(timeout=10)
    exc = res.get(propagate=False)
    assert isinstance(exc, TypeError)
    assert res.failed() and not res.successful()
    assert res.state == "FAILURE"
    assert "TypeError" in (res.traceback or "")

    from proj.celeriac import app

    assert app.AsyncResult("this-id-does-not-exist").state == "PENDING"
    assert proj.mul.delay(3, 4).get(timeout=10) == 12
    assert proj.xsum.delay([1, 2, 3]).get(timeout=10) == 6


def test_remote_traceback_is_attached(proj: ModuleType, start_worker: Any) -> None:
    start_worker()
    res = proj.add.delay(2, "2")
    with pytest.raises(TypeError) as info:
        res.get(timeout=10)
    cause = info.value.__cause__
    assert cause is not None and "x + y" in str(cause)


def test_get_times_out_without_worker(proj: ModuleType) -> None:
    res = proj.add.delay(1, 1)
    with pytest.raises(CeleriacTimeoutError):
        res.get(timeout=0.2)
    with pytest.raises(TimeoutError):  # also the builtin
        res.get(timeout=0.1)
    assert res.state == states.PENDING


def test_routes_send_to_the_named_queue(proj: ModuleType, start_worker: Any) -> None:
    from proj.celeriac import app

    app.conf.task_routes = {"proj.tasks.add": {"queue": "hipri"}}
    res = proj.add.delay(5, 5)
    assert app.broker.size("hipri") == 1
    start_worker("-Q", "hipri,celery")
    assert res.get(timeout=10) == 10


def test_task_sent_before_the_worker_starts_is_run(proj: ModuleType, start_worker: Any) -> None:
    results = [proj.add.delay(i, i) for i in range(20)]
    start_worker("-c", "4")
    assert [r.get(timeout=10) for r in results] == [i * 2 for i in range(20)]


def test_solo_pool(proj: ModuleType, start_worker: Any) -> None:
    worker = start_worker("-P", "solo")
    assert proj.mul.delay(6, 7).get(timeout=10) == 42
    assert "1 (solo)" in worker.output


def test_result_extended(proj: ModuleType, start_worker: Any) -> None:
    from proj.celeriac import app

    app.conf.result_extended = True
    start_worker("-n", "ext@%h")
    worker_env_check = proj.add.delay(1, 2)
    assert worker_env_check.get(timeout=10) == 3
    # The worker has its own settings: result_extended is off there, so nothing extra.
    assert worker_env_check.name == "proj.tasks.add"
