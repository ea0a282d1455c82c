"""What the prefork supervisor keeps per job, per child process, and for the fork server."""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import pickle
import signal
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any, final

from celeriac.exceptions import TimeLimitExceeded, WorkerLostError
from celeriac.pools._child import FrameReader, dump_frame
from celeriac.pools.base import DoneCallback

__all__ = [
    "ChildRecord",
    "ForkServer",
    "JobRecord",
    "WakePipe",
    "describe_exit",
    "free_indexes",
    "idle_surplus",
    "lost_job_error",
    "overdue",
    "running",
    "signal_quietly",
    "until_next_deadline",
]

logger = logging.getLogger(__name__)

#: Most file descriptors one read from the fork server may carry.
_MAX_FDS = 64


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

    __slots__ = ("index", "is_closed", "job", "pid", "reader", "retiring", "sock", "watcher")

    def __init__(self, index: int, pid: int, sock: socket.socket) -> None:
        self.index = index
        self.pid = pid
        self.sock = sock
        self.reader = FrameReader()
        self.job: JobRecord | None = None
        self.retiring: str | None = None
        self.is_closed = False
        #: What reads its socket: ``"loop"`` (the event loop), ``"selector"`` (the
        #: supervisor thread), or ``None`` (not yet attached).
        self.watcher: str | None = None

    @property
    def name(self) -> str:
        """The name Celery gives it in logs, ``ForkPoolWorker-<index>``."""
        return f"ForkPoolWorker-{self.index}"


def free_indexes(children: Iterable[ChildRecord], spawning: set[int]) -> Iterator[int]:
    """Child indexes (1, 2, ...) that no child has and no spawn request holds."""
    used = {c.index for c in children} | spawning
    return (i for i in itertools.count(1) if i not in used)


def idle_surplus(children: Iterable[ChildRecord], size: int) -> list[ChildRecord]:
    """Idle working children beyond ``size`` (busy ones count, but leave after their job)."""
    working = [c for c in children if not c.retiring]
    extra = sorted(working, key=lambda c: c.job is not None)[: max(len(working) - size, 0)]
    return [c for c in extra if c.job is None]


def lost_job_error(job: JobRecord, how: str) -> BaseException:
    """What a job reports when its child died: a hard time limit, or a lost worker."""
    if job.timed_out:
        return TimeLimitExceeded(job.time_limit)
    return WorkerLostError(f"Worker exited prematurely: {how} Job: {job.number}.")


def running(children: Iterable[ChildRecord], job: int) -> ChildRecord | None:
    """The child running job number ``job``, if any."""
    return next((c for c in children if c.job is not None and c.job.number == job), None)


def signal_quietly(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid``; a process that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def describe_exit(status: int | None) -> str:
    """A wait status as Celery words it: ``signal 9 (SIGKILL)`` or ``exitcode 1``.

    ``None``: the status is unknown (the fork server, whose child it was, is gone).
    """
    if status is None:
        return "exit status unknown (the fork server is gone)"
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


@final
class WakePipe:
    """A non-blocking pipe another thread writes to, to wake the supervisor's selector."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)

    def wake(self) -> None:
        """Make the read end readable (a full pipe is awake already)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.write_fd, b"x")

    def drain(self) -> None:
        """Read everything written so far."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 4096):
                pass

    def close(self) -> None:
        """Close both ends."""
        os.close(self.read_fd)
        os.close(self.write_fd)


@final
class ForkServer:
    """The worker's end of the fork server: its pid, its control socket, its reports."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid: int | None = pid
        self.sock: socket.socket | None = sock
        self._reader = FrameReader()
        self._fds: collections.deque[int] = collections.deque()

    def send(self, request: tuple[Any, ...]) -> bool:
        """Send ``("spawn", index)`` or ``("prepare", fn)``; whether it could be sent."""
        if self.sock is None:
            return False
        try:
            self.sock.sendall(dump_frame(request))
        except OSError:
            logger.exception("Cannot reach the prefork fork server")
            return False
        return True

    def read(self) -> list[tuple[Any, ...]] | None:
        """The reports now readable (``None`` once the server is gone).

        ``("spawned", index, pid, fd)`` with the worker's end of the child's socket pair,
        or ``("exited", pid, wait_status)``.
        """
        assert self.sock is not None
        data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, _MAX_FDS)
        if not data:
            return None
        self._fds.extend(fds)
        events: list[tuple[Any, ...]] = []
        for frame in self._reader.feed(data):
            kind, *rest = pickle.loads(frame)
            fd = (self._fds.popleft(),) if kind == "spawned" else ()
            events.append((kind, *rest, *fd))
        return events

    def close(self) -> None:
        """Close the control socket (the server exits when it sees that)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def wait(self, *, kill: bool = False) -> None:
        """Wait for the server to exit (``kill``: SIGKILL it first)."""
        if self.pid is not None:
            if kill:
                signal_quietly(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None
