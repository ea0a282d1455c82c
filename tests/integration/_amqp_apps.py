"""Task modules for the RabbitMQ interop tests, written into each test's directory.

The same tasks exist twice: ``cel_tasks`` on celeriac, ``peer_tasks`` on Celery. Both
read the broker, the backend and the queue from the environment, so a test points a
worker subprocess and an in-process client at the same, fresh queue.
"""

from __future__ import annotations

from pathlib import Path

_TASKS = """
import os
import time
from pathlib import Path

{import_line}

app = Celery("interop", broker=os.environ["IT_BROKER"], backend=os.environ["IT_BACKEND"])
app.conf.update(
    task_default_queue=os.environ["IT_QUEUE"],
    task_queue_max_priority=int(os.environ.get("IT_MAX_PRIORITY", "10")),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)


@app.task(name="interop.add")
def add(x, y):
    return x + y


@app.task(name="interop.record")
def record(path, n):
    with open(path, "a") as fh:
        fh.write(f"{{n}}\\n")
    return n


@app.task(name="interop.slow", acks_late=True)
def slow(path, value):
    marker = Path(path)
    with marker.open("a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    if len(marker.read_text().split()) == 1:
        time.sleep(60)  # the first run is killed while it sleeps
    return value
"""


def write_apps(directory: Path) -> None:
    """Write ``cel_tasks.py`` (celeriac) and ``peer_tasks.py`` (Celery) into ``directory``."""
    (directory / "cel_tasks.py").write_text(
        _TASKS.format(import_line="from celeriac import Celery")
    )
    (directory / "peer_tasks.py").write_text(_TASKS.format(import_line="from celery import Celery"))
