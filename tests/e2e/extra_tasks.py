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
