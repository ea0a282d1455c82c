from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from celeriac.app.base import Celery
from celeriac.cli.main import main
from tests.unit.cli import cliproj

Run = Callable[..., Result]


@pytest.fixture
def broker_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/broker.sqlite3"


@pytest.fixture
def backend_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/results.sqlite3"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, broker_url: str, backend_url: str) -> Iterator[Celery]:
    """A fresh ``cliproj.app`` per test, on its own SQLite files (through the environment)."""
    fresh = cliproj.make_app()
    monkeypatch.setattr(cliproj, "app", fresh)
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERIAC_APP", "CELERY_APP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CELERIAC_BROKER_URL", broker_url)
    monkeypatch.setenv("CELERIAC_RESULT_BACKEND", backend_url)
    yield fresh
    fresh.close()


@pytest.fixture
def run(app: Celery) -> Run:
    """Run ``celeriac -A tests.unit.cli.cliproj ARGS...``; stdout and stderr kept apart."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, ["-A", "tests.unit.cli.cliproj", *args], input=input)

    return invoke
