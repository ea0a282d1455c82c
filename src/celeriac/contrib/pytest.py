"""The pytest plugin: Celery's fixtures, under Celery's names.

Installed with celeriac (entry point ``pytest11``), or loaded with
``-p celeriac.contrib.pytest`` / ``pytest_plugins = ["celeriac.contrib.pytest"]``. It
only registers the ``celery`` marker and defines fixtures; nothing happens until a test
asks for one.

* ``celery_app``: a new app per test on an in-process broker (``memory://`` with a name
  of its own) and result backend (``cache+memory://``), closed after the test.
* ``celery_worker``: a real worker for ``celery_app`` in a thread, running the same
  consumer, pool and execution path as ``celeriac worker`` (not eager mode).
* ``celery_session_app`` / ``celery_session_worker``: the same, once per session.
* Override these session fixtures to configure them: ``celery_config`` (settings),
  ``celery_parameters`` (``Celery()`` arguments), ``celery_includes`` (modules imported
  before the worker starts), ``celery_class_tasks`` (task classes to register),
  ``celery_worker_pool`` (``solo``), ``celery_worker_parameters`` (``start_worker``
  arguments such as ``queues``), ``celery_enable_logging`` and ``use_celery_app_trap``
  (make any use of the current app fail).
* ``@pytest.mark.celery(**settings)`` overrides settings for one test.

Setting ``NO_WORKER`` in the environment makes the worker fixtures start nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task
    from celeriac.worker.worker import Worker

__all__ = [
    "celery_app",
    "celery_class_tasks",
    "celery_config",
    "celery_enable_logging",
    "celery_includes",
    "celery_parameters",
    "celery_session_app",
    "celery_session_worker",
    "celery_worker",
    "celery_worker_parameters",
    "celery_worker_pool",
    "depends_on_current_app",
    "use_celery_app_trap",
]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``celery`` marker (``--strict-markers`` would reject it otherwise)."""
    config.addinivalue_line(
        "markers", "celery(**overrides): override celery configuration for a test case"
    )


# -- configuration fixtures: override them in a conftest.py -------------------------


@pytest.fixture(scope="session")
def use_celery_app_trap() -> bool:
    """Return True to make any use of the current or default app raise."""
    return False


@pytest.fixture(scope="session")
def celery_enable_logging() -> bool:
    """Return True to have the test worker log (at ``$WORKER_LOGLEVEL``, default error)."""
    return False


@pytest.fixture(scope="session")
def celery_config() -> Mapping[str, Any]:
    """Return settings for the test apps (over the in-process broker and backend)."""
    return {}


@pytest.fixture(scope="session")
def celery_parameters() -> Mapping[str, Any]:
    """Return keyword arguments for ``Celery()`` when the test apps are made."""
    return {}


@pytest.fixture(scope="session")
def celery_includes() -> Sequence[str]:
    """Return modules to import before a test worker starts (tasks, signal handlers)."""
    return ()


@pytest.fixture(scope="session")
def celery_class_tasks() -> Sequence[type[Task[Any, Any]] | Task[Any, Any]]:
    """Return task classes (or instances) to register on the session app."""
    return []


@pytest.fixture(scope="session")
def celery_worker_pool() -> str:
    """Return the test worker's pool: ``solo`` runs tasks in the worker's thread."""
    return "solo"


@pytest.fixture(scope="session")
def celery_worker_parameters() -> Mapping[str, Any]:
    """Return keyword arguments for the test worker (``queues``, ``concurrency`` ...)."""
    return {}


# -- apps and workers -----------------------------------------------------------------


@contextmanager
def _create_app(
    *,
    enable_logging: bool,
    use_trap: bool,
    parameters: Mapping[str, Any],
    config: Mapping[str, Any],
) -> Iterator[Celery]:
    from celeriac.contrib.testing.app import TestApp, release_test_broker, setup_default_app

    app = TestApp(set_as_current=False, enable_logging=enable_logging, config=config, **parameters)
    try:
        with setup_default_app(app, use_trap=use_trap):
            yield app
    finally:
        release_test_broker(app)


def _config_for(request: pytest.FixtureRequest, config: Mapping[str, Any]) -> dict[str, Any]:
    marker = request.node.get_closest_marker("celery")
    return {**config, **(marker.kwargs if marker else {})}


@pytest.fixture
def celery_app(
    request: pytest.FixtureRequest,
    celery_config: Mapping[str, Any],
    celery_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
    use_celery_app_trap: bool,
) -> Iterator[Celery]:
    """Return a new app for this test; it is not made the current app."""
    with _create_app(
        enable_logging=celery_enable_logging,
        use_trap=use_celery_app_trap,
        parameters=celery_parameters,
        config=_config_for(request, celery_config),
    ) as app:
        yield app


@pytest.fixture(scope="session")
def celery_session_app(
    request: pytest.FixtureRequest,
    celery_config: Mapping[str, Any],
    celery_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
    use_celery_app_trap: bool,
) -> Iterator[Celery]:
    """Return one app for the session, made the current app unless the trap is on."""
    with _create_app(
        enable_logging=celery_enable_logging,
        use_trap=use_celery_app_trap,
        parameters=celery_parameters,
        config=_config_for(request, celery_config),
    ) as app:
        if not use_celery_app_trap:
            app.set_current()
        yield app


@contextmanager
def _run_worker(
    app: Celery,
    includes: Sequence[str],
    pool: str,
    parameters: Mapping[str, Any],
    enable_logging: bool,
) -> Iterator[Worker | None]:
    from celeriac.app.config import environment_variable
    from celeriac.contrib.testing.worker import start_worker

    if environment_variable("NO_WORKER"):
        yield None
        return
    for module in includes:
        importlib.import_module(module)
    options = dict(parameters)
    if enable_logging:
        options.setdefault("loglevel", environment_variable("WORKER_LOGLEVEL") or "error")
    with start_worker(app, pool=pool, **options) as worker:
        yield worker


@pytest.fixture
def celery_worker(
    celery_app: Celery,
    celery_includes: Sequence[str],
    celery_worker_pool: str,
    celery_worker_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
) -> Iterator[Worker | None]:
    """Run a real worker for ``celery_app`` in a thread for the duration of the test."""
    with _run_worker(
        celery_app,
        celery_includes,
        celery_worker_pool,
        celery_worker_parameters,
        celery_enable_logging,
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def celery_session_worker(
    celery_session_app: Celery,
    celery_includes: Sequence[str],
    celery_class_tasks: Sequence[type[Task[Any, Any]] | Task[Any, Any]],
    celery_worker_pool: str,
    celery_worker_parameters: Mapping[str, Any],
    celery_enable_logging: bool,
) -> Iterator[Worker | None]:
    """Run a real worker for ``celery_session_app`` in a thread for the whole session."""
    for task in celery_class_tasks:
        celery_session_app.register_task(task)
    with _run_worker(
        celery_session_app,
        celery_includes,
        celery_worker_pool,
        celery_worker_parameters,
        celery_enable_logging,
    ) as worker:
        yield worker


@pytest.fixture
def depends_on_current_app(celery_app: Celery) -> None:
    """Make ``celery_app`` the current app for this test."""
    celery_app.set_current()
