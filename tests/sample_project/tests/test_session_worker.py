from proj.tasks import add


def test_session_worker_runs_tasks(celery_session_app, celery_session_worker):
    assert add.delay(1, 1).get(timeout=10) == 2


def test_session_worker_is_shared(celery_session_app, celery_session_worker):
    assert celery_session_worker.app is celery_session_app
    assert add.delay(2, 3).get(timeout=10) == 5
