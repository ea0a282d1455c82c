import pytest


@pytest.fixture(scope="session")
def celery_config():
    return {
        "task_default_queue": "proj",
        "result_extended": True,
        "task_routes": {"proj.tasks.xsum": {"queue": "totals"}},
    }


@pytest.fixture(scope="session")
def celery_worker_parameters():
    return {"queues": ("proj", "totals")}


@pytest.fixture(scope="session")
def celery_includes():
    return ["proj.tasks"]
