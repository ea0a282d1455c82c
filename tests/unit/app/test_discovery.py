"""``app.autodiscover_tasks``: which modules it imports, and when."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.app.discovery import django_app_names, find_related_module

MakePackage = Callable[[str, dict[str, str]], str]

TASKS = """
from celeriac import shared_task

@shared_task
def ping():
    return "pong"
"""


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write packages under a fresh sys.path entry; forget their modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    prefix = f"disc_{uuid.uuid4().hex[:8]}"
    made: list[str] = []

    def make(name: str, files: dict[str, str]) -> str:
        package = f"{prefix}_{name}"
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        for filename, source in files.items():
            (tmp_path / package / filename).write_text(textwrap.dedent(source))
        made.append(package)
        return package

    yield make
    for name in list(sys.modules):
        if any(name == p or name.startswith(f"{p}.") for p in made):
            del sys.modules[name]


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("discovery", broker="memory://discovery", set_as_current=False)
    yield app
    app.close()


def test_discovery_waits_for_the_worker_to_import_modules(
    app: Celery, make_package: MakePackage
) -> None:
    first = make_package("a", {"tasks.py": TASKS})
    second = make_package("b", {})  # no tasks module: skipped
    app.autodiscover_tasks([first, second])
    assert f"{first}.tasks" not in sys.modules
    app.import_default_modules()
    assert f"{first}.tasks" in sys.modules
    assert f"{first}.tasks.ping" in app.tasks


def test_force_imports_now(app: Celery, make_package: MakePackage) -> None:
    package = make_package("a", {"jobs.py": TASKS})
    app.autodiscover_tasks([package], related_name="jobs", force=True)
    assert f"{package}.jobs.ping" in app.tasks


def test_packages_may_be_a_callable_evaluated_at_discovery(
    app: Celery, make_package: MakePackage
) -> None:
    installed: list[str] = []
    app.autodiscover_tasks(lambda: installed)
    installed.append(make_package("late", {"tasks.py": TASKS}))
    app.import_default_modules()
    assert f"{installed[0]}.tasks.ping" in app.tasks


def test_an_app_config_class_path_stands_for_its_package(make_package: MakePackage) -> None:
    package = make_package("polls", {"apps.py": "class PollsConfig: pass\n", "tasks.py": TASKS})
    module = find_related_module(f"{package}.apps.PollsConfig", "tasks")
    assert module is not None
    assert module.__name__ == f"{package}.tasks"


def test_a_missing_package_is_an_error(make_package: MakePackage) -> None:
    with pytest.raises(ModuleNotFoundError):
        find_related_module(f"missing_{uuid.uuid4().hex}", "tasks")


def test_a_broken_import_inside_the_tasks_module_is_not_hidden(make_package: MakePackage) -> None:
    package = make_package("broken", {"tasks.py": "import no_such_dependency_here\n"})
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_here"):
        find_related_module(package, "tasks")


def test_without_packages_or_django_nothing_is_imported(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.delitem(sys.modules, "django.conf", raising=False)
    assert django_app_names() == []
    app.autodiscover_tasks(force=True)
