"""How a task's ack flags fall back to the settings (as Celery's Task.bind does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from celeriac import Celery
from celeriac.worker import policy


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("t", broker="memory://policy", set_as_current=False)
    yield app
    app.close()


def test_acks_on_failure_and_timeout_default_to_true(app: Celery) -> None:
    @app.task
    def plain() -> None: ...

    assert policy.acks_on_failure(app, plain.name) and policy.acks_on_timeout(app, plain.name)
    assert policy.acks_on_failure(app, "not.registered")


def test_the_combined_setting_decides_when_nothing_closer_is_set(app: Celery) -> None:
    app.conf.task_acks_on_failure_or_timeout = False

    @app.task
    def plain() -> None: ...

    @app.task(acks_on_timeout=True)
    def own_timeout_flag() -> None: ...

    assert not policy.acks_on_failure(app, plain.name)
    assert not policy.acks_on_timeout(app, plain.name)
    assert policy.acks_on_timeout(app, own_timeout_flag.name)
    assert not policy.acks_on_failure(app, own_timeout_flag.name)


def test_order_task_flag_setting_task_combined_flag_setting(app: Celery) -> None:
    app.conf.task_acks_on_failure = True

    @app.task(acks_on_failure_or_timeout=False)
    def combined_off() -> None: ...

    @app.task(acks_on_failure=False)
    def own_off() -> None: ...

    assert policy.acks_on_failure(app, combined_off.name)  # the setting comes first
    assert not policy.acks_on_timeout(app, combined_off.name)  # then the task's combined flag
    assert not policy.acks_on_failure(app, own_off.name)
