"""The Celery app of the benchmark: ``python -m celery -A benchtasks_celery worker``."""

from __future__ import annotations

from benchdefs import app_settings, register
from celery import Celery  # type: ignore[import-untyped]

app = Celery("benchtasks_celery")
app.conf.update(app_settings(), broker_connection_retry_on_startup=True)
tasks = register(app)
noop, add, xsum, mark = tasks["noop"], tasks["add"], tasks["xsum"], tasks["mark"]
