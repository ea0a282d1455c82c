"""Django-style configuration (``namespace='CELERY'``) and discovery of Django apps' tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from celeriac.app.config import Settings

DJANGO_PROJECT = Path(__file__).parent / "django_project"


def test_namespace_may_end_with_an_underscore() -> None:
    conf = Settings()
    conf.config_from_object({"CELERY_BROKER_URL": "memory://ns"}, namespace="CELERY_")
    assert conf.broker_url == "memory://ns"


def test_namespace_reads_only_its_prefix_in_its_case() -> None:
    conf = Settings()
    source = {"CELERY_TASK_DEFAULT_QUEUE": "django", "celery_task_serializer": "pickle"}
    conf.config_from_object(source, namespace="CELERY")
    assert (conf.task_default_queue, conf.task_serializer) == ("django", "json")


def test_namespace_reads_attributes_of_a_settings_object() -> None:
    class DjangoSettings:
        CELERY_RESULT_BACKEND = "cache+memory://"
        CELERY_TASK_TRACK_STARTED = True
        DEBUG = True

    conf = Settings()
    conf.config_from_object(DjangoSettings(), namespace="CELERY")
    assert conf.changes() == {"result_backend": "cache+memory://", "task_track_started": True}


def _run_project(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    completed = subprocess.run(
        [sys.executable, "check.py", *args],
        cwd=DJANGO_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


@pytest.mark.parametrize("args", [(), ("--django-first",)], ids=["app-first", "django-first"])
def test_django_project(args: tuple[str, ...]) -> None:
    pytest.importorskip("django")
    report = _run_project(*args)
    # config_from_object("django.conf:settings", namespace="CELERY")
    assert report["broker_url"] == "memory://django-project"
    assert report["result_backend"] == "cache+memory://"
    assert report["task_default_queue"] == "django"
    assert report["timezone"] == "Europe/Paris"
    assert report["task_track_started"] is True
    # autodiscover_tasks(): lazy, then every installed app's tasks module (an app named
    # by its config class too; an app without one is skipped), Django set up first.
    assert report["discovered_before_worker"] is False
    assert report["tasks"] == [
        "orders.tasks.total",
        "polls.tasks.add",
        "polls.tasks.question_label",
    ]
    assert report["results"] == [5, 6, "polls.Question"]
