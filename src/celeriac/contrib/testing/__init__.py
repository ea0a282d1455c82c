"""Helpers for testing celeriac apps (Celery's ``celery.contrib.testing``).

* :mod:`celeriac.contrib.testing.app`: ``TestApp`` and ``setup_default_app``, the test
  app the pytest fixtures build and the current-app bookkeeping around it.
* :mod:`celeriac.contrib.testing.worker`: ``start_worker``, a real worker in a thread.

The pytest fixtures themselves are in :mod:`celeriac.contrib.pytest`.
"""
