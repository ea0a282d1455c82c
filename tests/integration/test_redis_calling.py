"""The guide's "Calling tasks" section with the example project on Redis."""

from __future__ import annotations

import importlib
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from celeriac.testing.processes import WorkerProcess

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


@pytest.fixture
def proj(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """examples/proj copied to a temporary directory, pointed at Redis by environment."""
    shutil.copytree(EXAMPLES / "proj", tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CELERIAC_BROKER_URL", redis_url)
    monkeypatch.setenv("CELERIAC_RESULT_BACKEND", redis_url)
    _forget("proj")
    yield importlib.import_module("proj.tasks")
    sys.modules["proj.celeriac"].app.close()
    _forget("proj")


def test_calling_tasks_section_on_redis(proj: ModuleType, tmp_path: Path) -> None:
    with WorkerProcess("proj", ["-Q", "celery,lopri", "-c", "2"], cwd=tmp_path) as worker:
        assert "redis://" in worker.output
        add = proj.add
        assert add.delay(2, 2).get(timeout=10) == 4
        assert add.apply_async((2, 2)).get(timeout=10) == 4
        assert add(2, 2) == 4

        sent = time.monotonic()
        res = add.apply_async((2, 2), queue="lopri", countdown=1)
        assert res.get(timeout=10) == 4
        assert time.monotonic() - sent >= 1.0

        res = add.delay(2, "2")
        with pytest.raises(TypeError, match="unsupported operand"):
            res.get(timeout=10)
        assert isinstance(res.get(propagate=False), TypeError)
        assert res.failed() and res.state == "FAILURE"
        assert "TypeError" in (res.traceback or "")

        from proj.celeriac import app

        assert app.AsyncResult("this-id-does-not-exist").state == "PENDING"
        assert proj.mul.delay(3, 4).get(timeout=10) == 12
        assert proj.xsum.delay([1, 2, 3]).get(timeout=10) == 6
