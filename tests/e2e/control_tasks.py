"""Tasks the remote-control matrix adds to the demo project (copied in as proj/ctl.py)."""

import os
import time
from pathlib import Path

from .celeriac import app

# pool_restart is refused unless the worker allows it.
app.conf.worker_pool_restarts = True


@app.task(bind=True)
def hold(self, gate, tag):
    """Say it started (``<gate>/<id>.started``), then run until ``<gate>/release`` exists."""
    gate = Path(gate)
    (gate / f"{self.request.id}.started").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (gate / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return tag


@app.task
def stamp(path):
    """Record when it ran: one time stamp per line."""
    with open(path, "a") as out:
        out.write(f"{time.time()}\n")


@app.task(bind=True)
def where(self):
    """The name of the worker that ran it."""
    return self.request.hostname
