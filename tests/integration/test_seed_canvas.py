"""The guide's Canvas section with the example project on Redis, and on RabbitMQ."""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from celeriac.testing.processes import WorkerProcess
from tests.e2e.test_canvas import run_canvas_section

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


def _project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: str, backend: str
) -> Iterator[ModuleType]:
    shutil.copytree(EXAMPLES / "proj", tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CELERIAC_BROKER_URL", broker)
    monkeypatch.setenv("CELERIAC_RESULT_BACKEND", backend)
    _forget("proj")
    yield importlib.import_module("proj.tasks")
    sys.modules["proj.celeriac"].app.close()
    _forget("proj")


@pytest.mark.redis
def test_canvas_section_on_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    for proj in _project(tmp_path, monkeypatch, redis_url, redis_url):
        with WorkerProcess("proj", ["-c", "4"], cwd=tmp_path):
            run_canvas_section(proj)


@pytest.mark.amqp
@pytest.mark.redis
def test_canvas_section_on_rabbitmq_with_redis_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, amqp_url: str, redis_url: str
) -> None:
    for proj in _project(tmp_path, monkeypatch, amqp_url, redis_url):
        with WorkerProcess("proj", ["-c", "4"], cwd=tmp_path):
            run_canvas_section(proj)
