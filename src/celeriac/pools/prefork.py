"""The ``prefork`` pool (alias ``processes``): jobs run in supervised child processes.

Children are forked by a single-threaded fork server (:mod:`celeriac.pools._child` says
why) and inherit the app; payloads go in and outcomes come back pickled, over a socket
pair per child. The worker writes a job straight to an idle child (so a long job never
holds up others: Celery's ``-O fair``); one supervisor thread reads the fork server's
reports, enforces hard time limits (SIGKILL), replaces children that exit or retire (max
tasks or memory per child) and reports lost jobs (``WorkerLostError``). Outcomes are read
on the loop the pool started on, if any (``_readers``); docs/architecture.md has more.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import pickle
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, final

from celeriac.exceptions import WorkerLostError
from celeriac.pools._child import describe_jobs_with, dump_frame, start_fork_server
from celeriac.pools._readers import ChildReaders
from celeriac.pools._records import (
    ChildRecord,
    ForkServer,
    JobRecord,
    WakePipe,
    describe_exit,
    free_indexes,
    idle_surplus,
    lost_job_error,
    overdue,
    running,
    signal_quietly,
    until_next_deadline,
)
from celeriac.pools.base import DoneCallback, Pool, PoolOptions, Target

__all__ = ["PreforkPool"]

logger = logging.getLogger(__name__)

#: Seconds a cold stop waits after SIGTERM before it sends SIGKILL.
_TERMINATE_GRACE = 2.0


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
        self._waker: WakePipe | None = None
        self._server: ForkServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing = False
        self._abandoning = False
        self._is_server_lost = False
        self._readers: ChildReaders | None = None

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
        self._server = ForkServer(*start_fork_server(self.target, self.options))
        self._selector = selectors.DefaultSelector()
        self._readers = readers = ChildReaders(self._lock, self._selector, self._handle_frames)
        readers.on_exit(self._exited, after=self._refill, closed=self._socket_closed)
        readers.use_running_loop()
        self._waker = WakePipe()
        self._selector.register(self._waker.read_fd, selectors.EVENT_READ, None)
        self._selector.register(self._server.sock, selectors.EVENT_READ, "control")  # type: ignore[arg-type]
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
    ) -> int | None:
        """Write the job to an idle child now, or queue it until a child is free."""
        try:
            frame = dump_frame((payload, soft_time_limit))
        except Exception as exc:  # an unpicklable payload is this job's failure
            on_done(None, exc)
            return None
        job = JobRecord(next(self._numbers), frame, on_done, time_limit)
        with self._lock:
            self._pending.append(job)
            self._assign()
        return job.number

    def resize(self, size: int) -> None:
        """Grow or shrink to ``size`` children (idle ones leave first; 0 is allowed)."""
        with self._lock:
            self._size = max(0, size)
            self._retire_surplus()
            self._fill()

    def terminate_job(self, job: int, signum: int) -> bool:
        """Send ``signum`` to the child running ``job`` (its exit reports the job lost).

        A job still waiting for a child is dropped and reported lost at once.
        """
        with self._lock:
            child = running(self._children.values(), job)
            if child is not None:
                signal_quietly(child.pid, signum)
                return True
            waiting = next((j for j in self._pending if j.number == job), None)
            if waiting is None:
                return False
            self._pending.remove(waiting)
        waiting.on_done(None, WorkerLostError(f"Job {job} terminated before it started."))
        return True

    def job_pid(self, job: int) -> int | None:
        """The pid of the child running ``job``."""
        with self._lock:
            child = running(self._children.values(), job)
        return child.pid if child is not None else None

    def restart(self, prepare: Callable[[], None] | None = None) -> None:
        """Have the fork server run ``prepare``, then replace every child.

        Idle children leave at once, busy ones after their job; the new ones are forked
        by the server after ``prepare`` ran there, so they see what it (re)imported.
        ``prepare`` travels pickled: a module-level function, or a partial of one.
        """
        with self._lock:
            if self._server is None or self._server.sock is None:
                raise RuntimeError("the prefork pool is not running")
            if prepare is not None:
                self._server.send(("prepare", prepare))
            for child in self._children.values():
                if not child.retiring:
                    child.retiring = "is replaced (pool restart)"
                    if child.job is None:
                        self._dismiss(child)
            self._fill()

    def stop(self, *, wait: bool) -> None:
        """Warm (``wait``): children finish their job, then exit. Cold: terminate them."""
        if self._thread is None:
            return
        if self._readers is not None:  # the supervisor reads them from now on
            self._readers.detach(self._children)
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
                    signal_quietly(child.pid, signal.SIGKILL)
            self._thread.join(_TERMINATE_GRACE)
        if self._server is not None:  # it exits once its control socket closes
            self._server.wait(kill=True)
        self._thread = None
        if self._selector is not None and self._waker is not None:
            self._selector.close()
            self._waker.close()
            self._selector, self._waker = None, None

    def info(self) -> dict[str, Any]:
        """``inspect stats`` pool info: the children's pids and the replacement policy."""
        with self._lock:
            pids = sorted(self._children)
        return {
            **super().info(),
            "processes": pids,
            "max-tasks-per-child": self.options.max_tasks_per_child,
            "max-memory-per-child": self.options.max_memory_per_child,
        }

    def _assign(self) -> None:  # this and the next four: called with the lock held
        if not self._pending:
            return
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
        if self._closing or self._server is None:
            return
        working = sum(1 for c in self._children.values() if not c.retiring)
        free = free_indexes(self._children.values(), self._spawning)
        for _ in range(self._size - working - len(self._spawning)):
            index = next(free)
            if not self._server.send(("spawn", index)):
                return
            self._spawning.add(index)

    def _retire_surplus(self) -> None:
        if len(self._children) > self._size:
            for child in idle_surplus(self._children.values(), self._size):
                child.retiring = "is not needed (the pool shrinks)"
                self._dismiss(child)

    def _dismiss(self, child: ChildRecord) -> None:
        """Let ``child`` finish its job and exit (cold: terminate it)."""
        if self._abandoning:
            signal_quietly(child.pid, signal.SIGTERM)
        elif not child.is_closed:
            with contextlib.suppress(OSError):
                child.sock.shutdown(socket.SHUT_WR)

    def _wake(self) -> None:
        if self._waker is not None:
            self._waker.wake()

    def _supervise(self) -> None:  # the supervisor thread
        assert self._selector is not None
        while True:
            with self._lock:
                if not self._spawning:
                    self._ready.set()
                if self._closing and not self._children and not self._spawning:
                    self._close_control()
                    self._ready.set()
                    return
                timeout = until_next_deadline(self._children.values())
            try:
                for key, _ in self._selector.select(timeout):
                    if key.data is None:
                        self._waker.drain()  # type: ignore[union-attr]
                    elif key.data == "control":
                        self._read_control()
                    else:
                        self._readers.read(key.data)  # type: ignore[union-attr]
                with self._lock:
                    for child in overdue(self._children.values()):
                        child.job.timed_out = True  # type: ignore[union-attr]
                        signal_quietly(child.pid, signal.SIGKILL)
                    self._refill()
            except Exception:  # the supervisor must keep supervising
                logger.exception("Prefork supervisor step failed")

    def _read_control(self) -> None:
        assert self._server is not None
        events = self._server.read()
        if events is None:
            self._lose_server()
            return
        for kind, *rest in events:
            if kind == "spawned":
                self._add_child(*rest)
            elif kind == "exited":
                self._on_exit(*rest)

    def _add_child(self, index: int, pid: int, fd: int) -> None:
        sock = socket.socket(fileno=fd)
        child = ChildRecord(index, pid, sock)
        with self._lock:
            self._spawning.discard(index)
            self._children[pid] = child
            self._readers.watch(child)  # type: ignore[union-attr]
            if self._closing:
                self._dismiss(child)
            self._assign()
        logger.debug("Started %s (pid %d)", child.name, pid)

    def _lose_server(self) -> None:
        # Exits go unreported now: a closed socket is an exit. Size 0: no more work.
        assert self._server is not None
        if not self._closing:
            logger.critical("The prefork fork server exited; lost children are not replaced")
        self._close_control()
        with self._lock:
            self._size, self._spawning = 0, set()
            self._retire_surplus()
            stranded, self._pending = self._pending, collections.deque()
        self._server.wait()
        self._is_server_lost = True
        self._ready.set()
        for child in [c for c in self._children.values() if c.is_closed]:
            self._on_exit(child.pid, None)
        for job in stranded if not self._abandoning else ():
            job.on_done(None, WorkerLostError(f"Job {job.number} never started: no fork server."))

    def _close_control(self) -> None:
        server = self._server
        if server is not None and server.sock is not None and self._selector is not None:
            self._selector.unregister(server.sock)
            server.close()

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
                elif child.retiring:  # the pool retired it while busy (restart)
                    self._dismiss(child)
                self._retire_surplus()
                self._assign()
            if job is not None and not self._abandoning:
                job.on_done(value, error)

    def _socket_closed(self, child: ChildRecord) -> None:
        if self._is_server_lost:  # no one is left to report how it exited
            self._on_exit(child.pid, None)

    def _on_exit(self, pid: int, status: int | None) -> None:  # the supervisor thread
        with self._lock:  # a socket read on the loop: its exit is handled there too
            on_loop = self._readers is not None and self._readers.exited(pid, status)
        if not on_loop:
            self._exited(pid, status)

    def _refill(self) -> None:  # lock held
        self._fill()
        self._assign()

    def _exited(self, pid: int, status: int | None) -> None:
        child = self._children.get(pid)
        if child is None:
            return
        if not child.is_closed:  # read what it sent before it died
            child.sock.setblocking(True)
            while data := child.sock.recv(1 << 16):
                self._handle_frames(child, data)
            self._readers.close(child)  # type: ignore[union-attr]
        how = describe_exit(status)
        with self._lock:
            del self._children[pid]
            job, child.job = child.job, None
        if job is not None:
            error = lost_job_error(job, how)
            logger.error("Process %r pid:%d exited with %r", child.name, pid, how)
            if not self._abandoning:
                job.on_done(None, error)
        elif child.retiring:
            logger.info("Replacing %s (pid %d): it %s", child.name, pid, child.retiring)
        elif not self._closing:
            logger.error("Process %r pid:%d exited with %r", child.name, pid, how)
