"""Async tasks the asyncio e2e tests add to the demo project (copied in as proj/asynctasks.py)."""

import asyncio
import os
from pathlib import Path

from celeriac.exceptions import SoftTimeLimitExceeded

from .celeriac import app


@app.task
async def nap(seconds, value):
    await asyncio.sleep(seconds)
    return value


@app.task
def sync_pid():
    return os.getpid()


@app.task
async def where():
    return [os.getpid(), id(asyncio.get_running_loop())]


@app.task
async def soft_limited():
    try:
        await asyncio.sleep(30)
    except SoftTimeLimitExceeded:
        await asyncio.sleep(0)
        return "cleaned up"
    return "not interrupted"


@app.task(time_limit=0.3, soft_time_limit=5)
async def too_slow():
    await asyncio.sleep(30)


@app.task
async def forever(marker):
    Path(marker).write_text("started")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        Path(marker).write_text("cancelled")
        raise
