"""The app the command-line tests load with ``-A tests.unit.cli.cliproj``."""

from __future__ import annotations

from celeriac.app.base import Celery


def make_app() -> Celery:
    """A fresh app with two tasks; broker and backend come from the environment."""
    app = Celery("cliproj", set_as_current=False)

    @app.task(name="cliproj.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="cliproj.mul")
    def mul(x: int, y: int) -> int:
        return x * y

    return app


app = make_app()
