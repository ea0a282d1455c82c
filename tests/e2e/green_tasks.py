"""Tasks the greenlet-pool tests add to the demo project (copied in as proj/greentasks.py)."""

import time
from pathlib import Path

from celeriac.exceptions import SoftTimeLimitExceeded

from .celeriac import app


@app.task
def nap(seconds):
    started = time.time()
    time.sleep(seconds)  # patched: the other greenlets run meanwhile
    return started, time.time()


@app.task
def soft_limited(marker):
    Path(marker).write_text("started")
    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "not interrupted"


@app.task(time_limit=0.5)
def too_slow():
    time.sleep(30)


@app.task
def forever(marker):
    Path(marker).write_text("started")
    time.sleep(60)


@app.task
def finishes(marker, seconds):
    Path(marker).write_text("started")
    time.sleep(seconds)
    return "finished"


@app.task(acks_late=True)
def forever_late(marker):
    Path(marker).write_text("started")
    time.sleep(60)
