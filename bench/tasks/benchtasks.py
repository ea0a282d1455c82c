"""The celeriac app of the benchmark: ``python -m celeriac -A benchtasks worker``."""

from __future__ import annotations

from benchdefs import app_settings, register

from celeriac import Celery

app = Celery("benchtasks")
app.conf.update(app_settings())
tasks = register(app)
noop, add, xsum, mark = tasks["noop"], tasks["add"], tasks["xsum"], tasks["mark"]
