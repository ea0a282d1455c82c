"""Tasks the end-to-end tests add to the demo project (copied in as proj/extra.py)."""

import time
from pathlib import Path

from .celeriac import app


@app.task
def sleeper(seconds, marker):
    Path(marker).write_text("started")
    time.sleep(seconds)
    return "slept"


@app.task(bind=True, max_retries=2, default_retry_delay=0.1)
def flaky(self, marker):
    path = Path(marker)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < 2:
        raise self.retry(exc=ValueError(f"attempt {count}"))
    return count


@app.task(bind=True)
def whoami(self):
    return {
        "hostname": self.request.hostname,
        "retries": self.request.retries,
        "delivery_info": self.request.delivery_info,
        "called_directly": self.request.called_directly,
    }


@app.task
def tally(numbers, path):
    with open(path, "a") as out:
        out.write(f"{sum(numbers)}\n")
    return sum(numbers)


@app.task
def shout(text):
    import logging
    import os

    logging.getLogger(__name__).warning("shout %s from %s", text, os.getpid())
    return os.getpid()


@app.task(rate_limit="5/s")
def stamp(path):
    with open(path, "a") as out:
        out.write(f"{time.time()}\n")


@app.task
def spin(seconds, marker):
    Path(marker).write_text("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # Python code between short sleeps: stoppable
        time.sleep(0.01)
    return "spun"


@app.task(
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    retry_backoff_max=1,
    retry_jitter=False,
    max_retries=2,
)
def backoff(path):
    with open(path, "a") as out:
        out.write(f"{time.time()}\n")
    raise ConnectionError("still down")


@app.task(bind=True, max_retries=1, default_retry_delay=0.2)
def exhausted(self):
    raise self.retry()


@app.task(bind=True, track_started=True)
def tracked(self, seconds):
    import os

    time.sleep(seconds)
    return os.getpid()


@app.task
def fail_with(text):
    raise ValueError(text)
