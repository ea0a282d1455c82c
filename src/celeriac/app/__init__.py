"""The application: settings, tasks, routing and the calling API."""

from celeriac.app.base import Celery
from celeriac.app.task import Task

__all__ = ["Celery", "Task"]
