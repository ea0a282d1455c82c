"""What the prefork supervisor keeps per job and per child process."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterable
from typing import final

from celeriac.pools._child import FrameReader
from celeriac.pools.base import DoneCallback

__all__ = ["ChildRecord", "JobRecord", "describe_exit", "overdue", "until_next_deadline"]


@final
class JobRecord:
    """One submitted job: its frame, callback, hard limit and deadline."""

    __slots__ = ("deadline", "frame", "number", "on_done", "time_limit", "timed_out")

    def __init__(
        self, number: int, frame: bytes, on_done: DoneCallback, time_limit: float | None
    ) -> None:
        self.number = number
        self.frame = frame
        self.on_done = on_done
        self.time_limit = time_limit
        self.deadline: float | None = None
        self.timed_out = False


@final
class ChildRecord:
    """One child process as the supervisor sees it."""

    __slots__ = ("index", "is_closed", "job", "pid", "reader", "retiring", "sock")

    def __init__(self, index: int, pid: int, sock: socket.socket) -> None:
        self.index = index
        self.pid = pid
        self.sock = sock
        self.reader = FrameReader()
        self.job: JobRecord | None = None
        self.retiring: str | None = None
        self.is_closed = False

    @property
    def name(self) -> str:
        """The name Celery gives it in logs, ``ForkPoolWorker-<index>``."""
        return f"ForkPoolWorker-{self.index}"


def describe_exit(status: int) -> str:
    """A wait status as Celery words it: ``signal 9 (SIGKILL)`` or ``exitcode 1``."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"signal {-code} ({signal.Signals(-code).name})"
    return f"exitcode {code}"


def until_next_deadline(children: Iterable[ChildRecord]) -> float | None:
    """Seconds until the first running job reaches its hard time limit (``None``: none)."""
    now = time.monotonic()
    times = [
        c.job.deadline - now
        for c in children
        if c.job is not None and c.job.deadline is not None and not c.job.timed_out
    ]
    return max(min(times), 0.0) if times else None


def overdue(children: Iterable[ChildRecord]) -> list[ChildRecord]:
    """The children whose job is past its hard time limit (and not yet killed for it)."""
    now = time.monotonic()
    return [
        c
        for c in children
        if c.job is not None
        and c.job.deadline is not None
        and c.job.deadline <= now
        and not c.job.timed_out
    ]
