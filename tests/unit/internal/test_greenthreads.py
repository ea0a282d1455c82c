"""Real OS threads and the handoff back to greenlets, in processes gevent/eventlet patched."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

# Runs in a fresh interpreter that the package patches as ``celeriac worker -P POOL``.
PROGRAM = """
import sys
sys.argv = ["celeriac", "worker", "-P", {pool!r}]
import celeriac
import threading
from celeriac._internal import greenthreads

real_ident = greenthreads.original("_thread", "get_ident")
handoff = greenthreads.handoff()  # its greenlet belongs to this thread
arrived = threading.Event()  # patched: waiting on it lets other greenlets run
seen = []

def body():
    seen.append(real_ident())
    handoff.call(lambda: seen.append(real_ident()))
    handoff.call(arrived.set)

thread = greenthreads.RealThread(body)
print(greenthreads.patched_by(), arrived.wait(10), thread.join(10))
print(seen[0] != real_ident(), seen[1] == real_ident())
print(type(greenthreads.real_selector()).__name__)
"""


@pytest.mark.parametrize("pool", ["gevent", "eventlet"])
def test_a_real_thread_hands_calls_back_to_a_greenlet(pool: str) -> None:
    if importlib.util.find_spec(pool) is None:  # not importorskip: importing eventlet
        pytest.skip(f"{pool} is not installed")  # here would warn on every later fork
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROGRAM.format(pool=pool)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    patched, threads, selector = run.stdout.split("\n")[:3]
    assert (patched, threads) == (f"{pool} True True", "True True")
    assert selector in ("EpollSelector", "KqueueSelector", "PollSelector")  # the OS's own


def test_unpatched_process_is_not_green() -> None:
    from celeriac._internal import greenthreads

    assert greenthreads.patched_by() is None
