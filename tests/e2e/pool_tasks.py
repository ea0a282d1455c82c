"""Tasks the prefork tests add to the demo project (copied in as proj/pooltasks.py)."""

import os
import time
from pathlib import Path

from celeriac.exceptions import SoftTimeLimitExceeded

from .celeriac import app

_hoard = []


@app.task
def pid():
    return os.getpid()


@app.task
def sleeper(seconds, marker):
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@app.task(time_limit=0.5)
def too_slow(marker):
    Path(marker).write_text(str(os.getpid()))
    time.sleep(30)


@app.task
def soft_limited(marker):
    Path(marker).write_text(str(os.getpid()))
    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "not interrupted"


@app.task
def hog(kib):
    _hoard.append(bytearray(kib * 1024))
    return os.getpid()


@app.task(acks_late=True, reject_on_worker_lost=True)
def dies_once(marker):
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(1)
    return "second delivery"
