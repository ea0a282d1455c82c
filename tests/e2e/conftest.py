"""Fixtures that run the demo project against real worker processes."""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.testing.processes import WorkerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXTRA = Path(__file__).with_name("extra_tasks.py")


def _forget_modules(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh copy of examples/proj in a temporary directory, which becomes the cwd."""
    shutil.copytree(EXAMPLES / "proj", tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("CELERIAC_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("CELERIAC_RESULT_BACKEND", raising=False)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    _forget_modules("proj")
    yield tmp_path
    proj = sys.modules.get("proj.celeriac")
    if proj is not None:
        proj.app.close()
    _forget_modules("proj")


@pytest.fixture
def proj(project_dir: Path) -> ModuleType:
    """The project's tasks module, imported from the temporary copy."""
    return importlib.import_module("proj.tasks")


@pytest.fixture
def start_worker(project_dir: Path) -> Iterator[Any]:
    """Start ``celeriac -A proj worker`` processes; all are stopped at the end."""
    started: list[WorkerProcess] = []

    def start(*args: str, app: str = "proj", mingle: bool = False, **kwargs: Any) -> WorkerProcess:
        # Mingle waits a second for neighbours' replies: only the tests about it pay that.
        options = args if mingle else (*args, "--without-mingle")
        worker = WorkerProcess(app, options, cwd=project_dir, **kwargs)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.__exit__(None, None, None)


@pytest.fixture
def extra(project_dir: Path) -> ModuleType:
    """The test-only tasks of tests/e2e/extra_tasks.py, installed as ``proj.extra``."""
    shutil.copy(EXTRA, project_dir / "proj" / "extra.py")
    return importlib.import_module("proj.extra")


def run_celeriac(cwd: Path, *args: str, timeout: float = 60) -> Any:
    """Run ``python -m celeriac ARGS`` in ``cwd``; the completed process (text output)."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "celeriac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
