"""Utilities with Celery's names (``celery.utils``): see :mod:`celeriac.utils.log`."""
