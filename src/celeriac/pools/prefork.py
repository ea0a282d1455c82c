"""The ``prefork`` pool (alias ``processes``): jobs run in forked child processes.

Children inherit the app and its tasks (the target exists before anything forks); only
payloads go in and outcomes come back, pickled, over one socket pair per child. They
are forked by a single-threaded fork server that the pool forks once when it starts
(see :mod:`celeriac.pools._child` for why). The worker's thread writes a job straight
to an idle child's socket; one supervisor thread waits on every child's socket and on
the fork server with a selector and reports each outcome through ``on_done``: no thread
hop per job on the way in, one on the way out (``on_done`` hops onto the event loop).

The supervisor keeps the pool at size. A child that exits is replaced, and its job, if
it had one, reports ``WorkerLostError``. A job past its hard time limit has its child
killed (SIGKILL) and reports ``TimeLimitExceeded``; the soft limit is a timer in the
child. A child that retires (max tasks or memory per child) gets no more work. A child
gets a job only while idle, so a long job never holds up others (Celery's ``-O fair``).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import pickle
import selectors
import signal
import socket
import threading
import time
from typing import Any, final

from celeriac.exceptions import TimeLimitExceeded, WorkerLostError
from celeriac.pools._child import (
    FrameReader,
    describe_jobs_with,
    dump_frame,
    send_frame,
    start_fork_server,
)
from celeriac.pools._records import (
    ChildRecord,
    JobRecord,
    describe_exit,
    overdue,
    until_next_deadline,
)
from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["PreforkPool"]

logger = logging.getLogger(__name__)

#: Seconds a cold stop waits after SIGTERM before it sends SIGKILL.
_TERMINATE_GRACE = 2.0
#: Most file descriptors one read from the fork server may carry.
_MAX_FDS = 64


@final
class PreforkPool(Pool):
    """Runs jobs in ``concurrency`` forked child processes, supervised.

    Args:
        concurrency: Number of child processes (the ceiling when autoscaling).
        target: The function each job runs; children inherit it.
        options: When to replace children (tasks or memory per child).
    """

    name = "prefork"
    is_supervising = True

    def __init__(
        self, *, concurrency: int, target: Target, options: PoolOptions | None = None
    ) -> None:
        super().__init__(concurrency=concurrency, target=target, options=options)
        self._size = concurrency
        self._lock = threading.Lock()
        self._children: dict[int, ChildRecord] = {}
        self._spawning: set[int] = set()
        self._pending: collections.deque[JobRecord] = collections.deque()
        self._numbers = itertools.count()
        self._selector: selectors.DefaultSelector | None = None
        self._wake_fds: tuple[int, int] | None = None
        self._control: socket.socket | None = None
        self._control_reader = FrameReader()
        self._received_fds: collections.deque[int] = collections.deque()
        self._server_pid: int | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing = False
        self._abandoning = False
        self._is_server_lost = False

    # -- the worker's side ----------------------------------------------------------

    @property
    def limit(self) -> int:
        """The current number of children."""
        return self._size

    def start(self) -> None:
        """Fork the fork server, have it fork the children, wait until they exist.

        Raises:
            OSError: the fork server could not be started.
            RuntimeError: the fork server exited before the children existed.
        """
        describe_jobs_with(self.options.describe)  # before the fork: children inherit it
        self._server_pid, self._control = start_fork_server(
            self.target,
            max_tasks=self.options.max_tasks_per_child,
            max_memory_kib=self.options.max_memory_per_child,
        )
        self._selector = selectors.DefaultSelector()
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._wake_fds = (read_fd, write_fd)
        self._selector.register(read_fd, selectors.EVENT_READ, None)
        self._selector.register(self._control, selectors.EVENT_READ, "control")
        with self._lock:
            self._fill()
        self._thread = threading.Thread(
            target=self._supervise, name="celeriac-prefork-supervisor", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._is_server_lost:
            self.stop(wait=False)
            raise RuntimeError("the prefork fork server exited during start-up")

    def submit(
        self,
        payload: Any,
        on_done: DoneCallback,
        *,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
    ) -> None:
        """Write the job to an idle child now, or queue it until a child is free."""
        try:
            frame = dump_frame((payload, soft_time_limit))
        except Exception as exc:  # an unpicklable payload is this job's failure
            on_done(None, exc)
            return
        job = JobRecord(next(self._numbers), frame, on_done, time_limit)
        with self._lock:
            self._pending.append(job)
            self._assign()

    def resize(self, size: int) -> None:
        """Grow or shrink to ``size`` children (idle ones leave first)."""
        with self._lock:
            self._size = max(1, size)
            self._retire_surplus()
            self._fill()

    def stop(self, *, wait: bool) -> None:
        """Warm (``wait``): children finish their job, then exit. Cold: terminate them."""
        if self._thread is None:
            return
        with self._lock:
            self._closing = True
            self._abandoning = not wait
            for child in self._children.values():
                self._dismiss(child)
        self._wake()
        self._thread.join(None if wait else _TERMINATE_GRACE)
        if self._thread.is_alive():
            with self._lock:
                for child in self._children.values():
                    self._signal(child.pid, signal.SIGKILL)
            self._thread.join(_TERMINATE_GRACE)
        if self._server_pid is not None:  # the server exits once its control socket closes
            self._signal(self._server_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._server_pid, 0)
        self._thread = None
        self._close_fds()

    def info(self) -> dict[str, Any]:
        """``inspect stats`` pool info: the children's pids and the replacement policy."""
        with self._lock:
            pids = sorted(self._children)
        options = self.options
        return {
            **super().info(),
            "processes": pids,
            "max-tasks-per-child": options.max_tasks_per_child,
            "max-memory-per-child": options.max_memory_per_child,
        }

    # -- shared helpers (called with the lock held) ------------------------------------

    def _assign(self) -> None:
        idle = [c for c in self._children.values() if c.job is None and not c.retiring]
        while self._pending and idle:
            child, job = idle.pop(), self._pending.popleft()
            try:
                child.sock.sendall(job.frame)
            except OSError:  # it just died: the supervisor reaps it and the job waits
                child.retiring = "has a closed socket"
                self._pending.appendleft(job)
                continue
            child.job = job
            if job.time_limit:
                job.deadline = time.monotonic() + job.time_limit
                self._wake()

    def _fill(self) -> None:
        """Ask the fork server for as many children as the pool is short of."""
        if self._closing or self._control is None:
            return
        working = sum(1 for c in self._children.values() if not c.retiring)
        used = {c.index for c in self._children.values()} | self._spawning
        free = (i for i in itertools.count(1) if i not in used)
        for _ in range(self._size - working - len(self._spawning)):
            index = next(free)
            try:
                send_frame(self._control, ("spawn", index))
            except OSError:
                logger.exception("Cannot reach the prefork fork server")
                return
            self._spawning.add(index)

    def _retire_surplus(self) -> None:
        working = [c for c in self._children.values() if not c.retiring]
        surplus = len(working) - self._size
        for child in sorted(working, key=lambda c: c.job is not None)[: max(surplus, 0)]:
            if child.job is None:
                child.retiring = "is not needed (the pool shrinks)"
                self._dismiss(child)

    def _dismiss(self, child: ChildRecord) -> None:
        """Let ``child`` finish its job and exit (cold: terminate it)."""
        if self._abandoning:
            self._signal(child.pid, signal.SIGTERM)
        elif not child.is_closed:
            with contextlib.suppress(OSError):
                child.sock.shutdown(socket.SHUT_WR)

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    def _wake(self) -> None:
        if self._wake_fds is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_fds[1], b"x")

    # -- the supervisor thread ----------------------------------------------------------

    def _supervise(self) -> None:
        assert self._selector is not None
        while True:
            with self._lock:
                if not self._spawning and not self._ready.is_set():
                    self._ready.set()
                if self._closing and not self._children and not self._spawning:
                    self._close_control()
                    self._ready.set()
                    return
                timeout = until_next_deadline(self._children.values())
            try:
                for key, _ in self._selector.select(timeout):
                    if key.data is None:
                        self._drain_wake_pipe()
                    elif key.data == "control":
                        self._read_control()
                    else:
                        self._read(key.data)
                self._enforce_time_limits()
                with self._lock:
                    self._fill()
                    self._assign()
            except Exception:  # the supervisor must keep supervising
                logger.exception("Prefork supervisor step failed")

    def _drain_wake_pipe(self) -> None:
        assert self._wake_fds is not None
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_fds[0], 4096):
                pass

    def _read_control(self) -> None:
        assert self._control is not None
        data, fds, _, _ = socket.recv_fds(self._control, 1 << 16, _MAX_FDS)
        if not data:
            self._lose_server()
            return
        self._received_fds.extend(fds)
        for frame in self._control_reader.feed(data):
            kind, *rest = pickle.loads(frame)
            if kind == "spawned":
                self._add_child(rest[0], rest[1], self._received_fds.popleft())
            elif kind == "exited":
                self._on_exit(rest[0], rest[1])

    def _add_child(self, index: int, pid: int, fd: int) -> None:
        assert self._selector is not None
        sock = socket.socket(fileno=fd)
        child = ChildRecord(index, pid, sock)
        with self._lock:
            self._spawning.discard(index)
            self._children[pid] = child
            self._selector.register(sock, selectors.EVENT_READ, child)
            if self._closing:
                self._dismiss(child)
            self._assign()
        logger.debug("Started %s (pid %d)", child.name, pid)

    def _lose_server(self) -> None:
        assert self._selector is not None and self._control is not None
        if not self._closing:
            logger.critical("The prefork fork server exited; lost children are not replaced")
        self._close_control()
        with self._lock:
            self._spawning.clear()
        if self._server_pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._server_pid, 0)
            self._server_pid = None
        self._is_server_lost = True
        self._ready.set()

    def _close_control(self) -> None:
        if self._control is not None and self._selector is not None:
            self._selector.unregister(self._control)
            self._control.close()
            self._control = None

    def _read(self, child: ChildRecord) -> None:
        try:
            data = child.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:  # it exited (or is exiting): the fork server reports how
            self._close_child_socket(child)
            return
        self._handle_frames(child, data)

    def _handle_frames(self, child: ChildRecord, data: bytes) -> None:
        for frame in child.reader.feed(data):
            try:
                value, error, retiring = pickle.loads(frame)
            except Exception as exc:  # the job's outcome is unreadable here: report that
                value, error, retiring = None, exc, None
            with self._lock:
                job, child.job = child.job, None
                if retiring:
                    child.retiring = retiring
                self._retire_surplus()
                self._assign()
            if job is not None and not self._abandoning:
                job.on_done(value, error)

    def _close_child_socket(self, child: ChildRecord) -> None:
        if not child.is_closed:
            assert self._selector is not None
            self._selector.unregister(child.sock)
            child.sock.close()
            child.is_closed = True

    def _on_exit(self, pid: int, status: int) -> None:
        child = self._children.get(pid)
        if child is None:
            return
        if not child.is_closed:  # read what it sent before it died
            child.sock.setblocking(True)
            while data := child.sock.recv(1 << 16):
                self._handle_frames(child, data)
            self._close_child_socket(child)
        how = describe_exit(status)
        with self._lock:
            del self._children[pid]
            job, child.job = child.job, None
        if job is not None:
            error: BaseException
            if job.timed_out:
                error = TimeLimitExceeded(job.time_limit)
            else:
                error = WorkerLostError(f"Worker exited prematurely: {how} Job: {job.number}.")
            logger.error("Process %r pid:%d exited with %r", child.name, pid, how)
            if not self._abandoning:
                job.on_done(None, error)
        elif child.retiring:
            logger.info("Replacing %s (pid %d): it %s", child.name, pid, child.retiring)
        elif not self._closing:
            logger.error("Process %r pid:%d exited with %r", child.name, pid, how)

    def _enforce_time_limits(self) -> None:
        with self._lock:
            for child in overdue(self._children.values()):
                child.job.timed_out = True  # type: ignore[union-attr]
                self._signal(child.pid, signal.SIGKILL)

    def _close_fds(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._wake_fds is not None:
            for fd in self._wake_fds:
                os.close(fd)
            self._wake_fds = None
