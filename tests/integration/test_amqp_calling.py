"""The guide's "Calling tasks" section on RabbitMQ, with rpc:// and with Redis results."""

from __future__ import annotations

import importlib
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac.brokers.amqp import AmqpBroker
from celeriac.testing.processes import WorkerProcess

pytestmark = [pytest.mark.amqp, pytest.mark.e2e]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_QUEUES = ("celery", "lopri")


def _forget_proj() -> None:
    for name in [n for n in sys.modules if n == "proj" or n.startswith("proj.")]:
        del sys.modules[name]


def _purge(amqp_url: str) -> None:
    admin = AmqpBroker.from_url(amqp_url, transport_options={})
    admin.open()
    for queue in _QUEUES:
        admin.purge(queue)
    admin.close()


@pytest.fixture(params=["rpc", "redis"])
def proj(
    request: pytest.FixtureRequest,
    amqp_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """examples/proj on RabbitMQ, its worker running; yields the tasks module."""
    if request.param == "redis":
        pytest.importorskip("celeriac.backends.redis", reason="the Redis result backend")
        backend = request.getfixturevalue("redis_url")
    else:
        backend = "rpc://"
    shutil.copytree(EXAMPLES / "proj", tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CELERIAC_BROKER_URL", amqp_url)
    monkeypatch.setenv("CELERIAC_RESULT_BACKEND", backend)
    _purge(amqp_url)
    _forget_proj()
    worker = WorkerProcess("proj", ["-Q", ",".join(_QUEUES), "-c", "2"], cwd=tmp_path)
    worker.start()
    try:
        yield importlib.import_module("proj.tasks")
    finally:
        worker.stop()
        app = sys.modules.get("proj.celeriac")
        if app is not None:
            app.app.close()
        _forget_proj()
        _purge(amqp_url)


def test_calling_tasks_section(proj: Any) -> None:
    add = proj.add
    assert add.delay(2, 2).get(timeout=10) == 4
    assert add.apply_async((2, 2)).get(timeout=10) == 4
    assert add(2, 2) == 4

    sent = time.monotonic()
    res = add.apply_async((2, 2), queue="lopri", countdown=1)
    assert res.get(timeout=10) == 4
    assert time.monotonic() - sent >= 1.0

    res = add.delay(2, 2)
    assert res.get(timeout=10) == 4
    assert len(res.id) == 36

    res = add.delay(2, "2")
    with pytest.raises(TypeError, match="unsupported operand"):
        res.get(timeout=10)
    assert isinstance(res.get(propagate=False), TypeError)
    assert res.failed() and not res.successful()
    assert res.state == "FAILURE"

    from proj.celeriac import app

    assert app.AsyncResult("this-id-does-not-exist").state == "PENDING"
    assert proj.mul.delay(3, 4).get(timeout=10) == 12
    assert proj.xsum.delay([1, 2, 3]).get(timeout=10) == 6
