"""celeriac: a distributed task queue that speaks Celery."""

__version__ = "0.1.0"
