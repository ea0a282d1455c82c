"""The project's own app, run by ``start_worker`` on in-process engines."""

import pytest
from proj.celery import app
from proj.tasks import mul

from celeriac.contrib.testing.worker import start_worker


@pytest.fixture
def proj_worker():
    app.conf.update(broker_url="memory://proj-tests", result_backend="cache+memory://")
    with start_worker(app, perform_ping_check=False) as worker:
        yield worker


def test_project_app_runs_its_tasks(proj_worker):
    assert proj_worker.app is app
    assert mul.delay(6, 7).get(timeout=10) == 42
