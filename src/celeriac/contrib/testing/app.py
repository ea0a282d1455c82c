"""The app the pytest fixtures build, and the current-app bookkeeping around it.

Celery's ``celery.contrib.testing.app`` with the same names: :func:`TestApp` makes an
app on an in-process broker and result backend, :func:`setup_default_app` puts the
current and default app back as they were when the block ends, and :func:`set_trap`
makes any use of the current app fail, to catch code that does not pass its app along.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, cast

from celeriac import _state

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = [
    "DEFAULT_TEST_CONFIG",
    "TEST_BROKER_PREFIX",
    "TestApp",
    "Trap",
    "preserve_current_app",
    "release_test_broker",
    "set_trap",
    "setup_default_app",
]

#: Settings of every test app unless the test's configuration says otherwise. The
#: broker is added per app: ``memory://`` with a name of its own (see TestApp).
DEFAULT_TEST_CONFIG: Mapping[str, Any] = {
    "result_backend": "cache+memory://",
    "accept_content": ["json"],
    "enable_utc": True,
    "timezone": "UTC",
}

#: Test apps get a broker ``memory://<TEST_BROKER_PREFIX><random>`` so that no two
#: apps share messages; :func:`release_test_broker` empties it afterwards.
TEST_BROKER_PREFIX = "celeriac-test-"


class Trap:
    """Stands in for the current app and fails on any use of it."""

    def __getattr__(self, name: str) -> NoReturn:
        raise RuntimeError("Test depends on current_app")


def TestApp(  # Celery's name and signature for this factory
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    enable_logging: bool = False,
    set_as_current: bool = False,
    backend: str | None = None,
    broker: str | None = None,
    **kwargs: Any,
) -> Celery:
    """Make an app for a test: an in-process broker and result backend by default.

    Args:
        name: The app's main module name (``main`` works too; ``celery.tests`` when
            neither is given).
        config: Settings applied over :data:`DEFAULT_TEST_CONFIG`; settings passed as
            keyword arguments win over both.
        enable_logging: Accepted for Celery compatibility: celeriac apps never
            configure logging themselves (see ``start_worker(loglevel=...)``).
        set_as_current: Make the new app the current app.
        backend: Result backend URL, replacing the configured one.
        broker: Broker URL, replacing the configured one.
        **kwargs: Other :class:`~celeriac.Celery` arguments and settings.
    """
    from celeriac.app.base import Celery

    del enable_logging  # celeriac installs no logging handlers outside its CLI
    settings = {
        **DEFAULT_TEST_CONFIG,
        "broker_url": f"memory://{TEST_BROKER_PREFIX}{uuid.uuid4().hex}",
        **(config or {}),
    }
    if broker is not None:
        settings.pop("broker_url")
    if backend is not None:
        settings.pop("result_backend", None)
    app = Celery(
        kwargs.pop("main", None) or name or "celery.tests",
        broker=broker,
        backend=backend,
        set_as_current=set_as_current,
        **kwargs,
    )
    for key, value in settings.items():
        app.conf.setdefault(key, value)  # defaults: keyword settings win
    return app


def release_test_broker(app: Celery) -> None:
    """Close ``app`` and empty the memory broker :func:`TestApp` gave it, if it has it."""
    app.close()
    url = app.conf.broker_url or ""
    if url.startswith(f"memory://{TEST_BROKER_PREFIX}"):
        from celeriac.brokers.memory import MemoryBroker

        MemoryBroker.reset(url.removeprefix("memory://"))


@contextmanager
def preserve_current_app() -> Iterator[None]:
    """Put the current and the default app back as they were when the block ends."""
    # _state keeps both privately; this is the one place outside it that saves and
    # restores them, for tests only.
    current = _state._current_app.get()
    default = list(_state._default_app)
    try:
        yield
    finally:
        _state._current_app.set(current)
        _state._default_app[:] = default


@contextmanager
def set_trap(app: Celery | None = None) -> Iterator[None]:
    """Make every use of the current or default app raise ``RuntimeError``.

    ``app`` is accepted for Celery compatibility and not used.
    """
    with preserve_current_app():
        _state.set_current_app(cast("Celery", Trap()))
        yield


@contextmanager
def setup_default_app(app: Celery, use_trap: bool = False) -> Iterator[None]:
    """Run the block with the app trap if asked; restore the current app after it.

    ``app`` is closed afterwards unless it was the current app before the block.
    """
    previous = _state._current_app.get() or next(iter(_state._default_app), None)
    with preserve_current_app():
        if use_trap:
            with set_trap(app):
                yield
        else:
            yield
    if app is not previous:
        app.close()
