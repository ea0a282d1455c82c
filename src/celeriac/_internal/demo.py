"""The guided demo: the seed guide's "Calling tasks" section against a real worker."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.testing.processes import WorkerProcess

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Task

__all__ = ["run_demo"]

Echo = Callable[[str], None]
DEMO_QUEUES = ("celery", "lopri")
_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d ")


def _find_task(app: Celery, short_name: str) -> Task[Any, Any]:
    for name in app.tasks.regular():
        if name.rsplit(".", 1)[-1] == short_name:
            return app.tasks[name]
    raise ImproperlyConfigured(
        f"the demo needs a project with an {short_name!r} task (see examples/proj)"
    )


def _show(echo: Echo, code: str, value: Any = None, *, raw: str | None = None) -> None:
    echo(f">>> {code}")
    if raw is not None:
        echo(raw)
    elif value is not None:
        echo(repr(value))


def run_demo(app: Celery, app_name: str, echo: Echo, global_args: Sequence[str] = ()) -> int:
    """Start a worker, make the guide's calls, print each result, stop the worker.

    Returns the worker's exit code (0 after a clean warm shutdown).
    """
    app.import_default_modules()
    add = _find_task(app, "add")
    for queue in DEMO_QUEUES:
        app.broker.purge(queue)
    log_path = os.path.abspath("demo-worker.log")
    command = f"celeriac -A {app_name} worker -l INFO -Q {','.join(DEMO_QUEUES)} -c 2"
    echo(f"$ {command}    # started in the background, log: {log_path}")
    worker = WorkerProcess(
        app_name,
        ["-Q", ",".join(DEMO_QUEUES), "-c", "2"],
        global_args=global_args,
        log_path=log_path,
    )
    worker.start()
    try:
        for line in worker.lines:
            if _LOG_LINE.match(line):
                break
            echo(line)
        _calls(app, add, echo)
    finally:
        code = worker.stop()
    echo(f"# worker stopped (exit code {code})")
    return code


def _calls(app: Celery, add: Task[Any, Any], echo: Echo) -> None:
    short = add.name.rsplit(".", 1)[0]
    _show(echo, f"from {short} import add")
    res = add.delay(2, 2)
    _show(echo, "add.delay(2, 2)", res)
    _show(echo, "_.get(timeout=5)", res.get(timeout=5))
    res = add.apply_async((2, 2))
    _show(echo, "add.apply_async((2, 2))", res)
    _show(echo, "_.get(timeout=5)", res.get(timeout=5))
    sent = time.monotonic()
    res = add.apply_async((2, 2), queue="lopri", countdown=2)
    _show(echo, "res = add.apply_async((2, 2), queue='lopri', countdown=2)")
    value = res.get(timeout=15)
    _show(echo, "res.get(timeout=15)", value)
    echo(f"# ran {time.monotonic() - sent:.1f}s after it was sent, from queue 'lopri'")
    _show(echo, "add(2, 2)", add(2, 2))
    res = add.delay(2, 2)
    _show(echo, "res = add.delay(2, 2)")
    _show(echo, "res.get(timeout=1)", res.get(timeout=1))
    _show(echo, "res.id", raw=res.id)
    res = add.delay(2, "2")
    _show(echo, "res = add.delay(2, '2')")
    try:
        res.get(timeout=5)
    except TypeError as exc:
        _show(
            echo,
            "res.get(timeout=5)",
            raw=f"Traceback (most recent call last):\n  ...\n{type(exc).__name__}: {exc}",
        )
    _show(echo, "res.get(propagate=False)", res.get(propagate=False))
    _show(echo, "res.failed()", res.failed())
    _show(echo, "res.successful()", res.successful())
    _show(echo, "res.state", res.state)
    _show(echo, f"from {app.main}.celeriac import app" if app.main else "app")
    _show(
        echo,
        "app.AsyncResult('this-id-does-not-exist').state",
        app.AsyncResult("this-id-does-not-exist").state,
    )
