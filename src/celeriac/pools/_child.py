"""The far side of the prefork pool: the fork server, the children, and their frames.

Children are not forked by the worker, whose threads (event loop, executor, supervisor)
may hold locks at any moment: a child forked then inherits a lock nobody will release,
and hangs on it. The worker forks one *fork server* when its pool starts, before it
consumes anything; the server has a single thread and forks every child on request
(:func:`run_fork_server`), sending the worker its end of the child's socket pair
(``SCM_RIGHTS``) and, later, the child's exit status.

Parent and child talk over their socket pair. A frame is a 4-byte big-endian length
and a pickle. The worker sends ``(payload, soft_time_limit)``; the child runs
``target(payload)`` and answers ``(value, error, retiring)``, where ``retiring`` is
``None`` or the reason the child leaves after this job (too many jobs, too much
memory), so the worker gives it no more work and has it replaced.

A child exits when its socket reaches end of file (the worker closed its end, or died
and the kernel closed it), and on Linux also when the fork server dies while a job
runs (``PR_SET_PDEATHSIG``); the server itself dies with the worker the same way, so
no child outlives its worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import resource
import selectors
import signal
import socket
import struct
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from celeriac.exceptions import SoftTimeLimitExceeded
from celeriac.pools.base import PoolOptions

__all__ = [
    "FrameReader",
    "dump_frame",
    "recv_frame",
    "resident_kib",
    "run_fork_server",
    "send_frame",
    "start_fork_server",
]

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1


def dump_frame(obj: Any) -> bytes:
    """``obj`` pickled and prefixed with its length."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def send_frame(sock: socket.socket, obj: Any) -> None:
    """Send one frame (blocking)."""
    sock.sendall(dump_frame(obj))


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> tuple[bool, Any]:
    """Receive one frame (blocking): ``(True, obj)``, or ``(False, None)`` at end of file."""
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return False, None
    (size,) = _HEADER.unpack(header)
    data = _recv_exact(sock, size)
    if data is None:
        return False, None
    return True, pickle.loads(data)


class FrameReader:
    """Splits bytes read without blocking into whole frames (still pickled)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the pickles of the frames now complete."""
        if not self._buffer and len(data) > _HEADER.size:
            # The usual case, once per job each way: one read, one whole frame.
            (size,) = _HEADER.unpack_from(data)
            if len(data) == _HEADER.size + size:
                return [data[_HEADER.size :]]
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[_HEADER.size : end]))
            del self._buffer[:end]
        return frames


def resident_kib() -> int:
    """This process's resident memory in KiB (peak resident where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak


def start_fork_server(
    target: Callable[[Any], Any], options: PoolOptions
) -> tuple[int, socket.socket]:
    """Fork the fork server; return its pid and the worker's end of its control socket."""
    control, server_end = socket.socketpair()
    parent_pid = os.getpid()
    with warnings.catch_warnings():  # 3.12+ warns about fork() with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        control.close()
        run_fork_server(server_end, target, parent_pid=parent_pid, options=options)
    server_end.close()
    return pid, control


def run_fork_server(
    control: socket.socket,
    target: Callable[[Any], Any],
    *,
    parent_pid: int,
    options: PoolOptions,
) -> NoReturn:
    """Fork a child for each ``("spawn", index)`` frame until ``control`` closes; exit.

    Answers ``("spawned", index, pid)`` with the worker's end of the child's socket pair
    attached, and ``("exited", pid, wait_status)`` when a child has been reaped. A
    ``("prepare", fn)`` frame runs ``fn()`` here first (``pool_restart`` reloads modules
    this way, so the children forked next run the new code).
    """
    code = 1
    try:
        asyncio.events._set_running_loop(None)  # forked from the worker's loop thread
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        _detach("celeriac-fork-server", parent_pid, ())
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, _ignore_signal)
        with selectors.DefaultSelector() as selector:
            selector.register(control, selectors.EVENT_READ)
            selector.register(wake_r, selectors.EVENT_READ)
            own_fds = [control.fileno(), wake_r, wake_w, selector.fileno()]
            while True:
                for key, _ in selector.select():
                    if key.fileobj is control:
                        got, frame = recv_frame(control)
                        if not got:
                            _exit_server(0)
                        if frame[0] == "prepare":
                            _prepare(frame[1])
                        else:
                            _fork_child(control, frame[1], target, own_fds, options)
                    else:
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_r, 4096)
                        _report_exits(control)
    except BaseException:  # the server's outermost frame: log, then exit
        logger.exception("The prefork fork server failed")
    finally:
        _exit_server(code)


def _exit_server(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _ignore_signal(signum: int, frame: Any) -> None:
    """SIGCHLD only needs to wake the selector (through the wake-up fd)."""


def _prepare(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # a failed reload leaves the old code running; say so
        logger.exception("The prefork fork server could not prepare a pool restart")


def _fork_child(
    control: socket.socket,
    index: int,
    target: Callable[[Any], Any],
    own_fds: list[int],
    options: PoolOptions,
) -> None:
    server_pid = os.getpid()
    parent_end, child_end = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        run_child(
            child_end,
            target,
            index=index,
            parent_pid=server_pid,
            inherited_fds=[*own_fds, parent_end.fileno()],
            options=options,
        )
    child_end.close()
    socket.send_fds(control, [dump_frame(("spawned", index, pid))], [parent_end.fileno()])
    parent_end.close()


def _report_exits(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send_frame(control, ("exited", pid, status))


def run_child(
    sock: socket.socket,
    target: Callable[[Any], Any],
    *,
    index: int,
    parent_pid: int,
    inherited_fds: Iterable[int],
    options: PoolOptions,
) -> NoReturn:
    """Serve jobs from ``sock`` until end of file, then exit; never returns.

    Runs in a freshly forked child (``ForkPoolWorker-<index>``). It must not unwind into
    the code that forked it, so every path ends in ``os._exit``.
    """
    code = 1
    name = f"ForkPoolWorker-{index}"
    try:
        _detach(name, parent_pid, inherited_fds)
        if options.initializer is not None:
            try:
                options.initializer(index)
            except Exception:  # the child can still work: log it and go on
                logger.exception("%s: the process initializer failed", name)
        _serve(
            sock,
            target,
            max_tasks=options.max_tasks_per_child,
            max_memory_kib=options.max_memory_per_child,
        )
        code = 0
    except BaseException:  # the child's outermost frame: log, then exit
        logger.exception("%s failed", name)
    finally:
        if options.finalizer is not None:
            try:
                options.finalizer(code)
            except Exception:  # exiting anyway: log it
                logger.exception("%s: the process finalizer failed", name)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _detach(name: str, parent_pid: int, inherited_fds: Iterable[int]) -> None:
    """Undo what the child inherited but must not share with the parent."""
    import multiprocessing.process  # only to name the process in log lines

    multiprocessing.process.current_process().name = name
    for fd in inherited_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    # The parent's wake-up fd for signals is shared with us: not ours to write to.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Ctrl-C and Ctrl-\ reach the whole process group; the parent decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, _soft_time_limit_exceeded)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)


#: The soft limit of the job running in this child (read by the SIGALRM handler).
_soft_limit: list[float] = []
#: The payload of the job running in this child, and how to name it in logs.
_current_job: list[Any] = []
_describe: list[Callable[[Any], str]] = []


def describe_jobs_with(describe: Callable[[Any], str] | None) -> None:
    """Name jobs in this process's (and its future children's) logs with ``describe``."""
    _describe[:] = [describe] if describe is not None else []


def _soft_time_limit_exceeded(signum: int, frame: Any) -> None:
    limit = _soft_limit[0] if _soft_limit else None
    job = _describe[0](_current_job[0]) if _describe and _current_job else "a job"
    logger.warning("Soft time limit (%ss) exceeded for %s", limit, job)
    exc = SoftTimeLimitExceeded()
    exc.limit = limit
    raise exc


def _serve(
    sock: socket.socket,
    target: Callable[[Any], Any],
    *,
    max_tasks: int | None,
    max_memory_kib: int | None,
) -> None:
    done = 0
    reader = FrameReader()  # one recv per job, mostly: a job's frame comes whole
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return
        for frame in reader.feed(data):
            payload, soft_time_limit = pickle.loads(frame)
            value, error = _run_one(target, payload, soft_time_limit)
            done += 1
            retiring = None
            if max_tasks and done >= max_tasks:
                retiring = f"ran {done} task(s) (max-tasks-per-child)"
            elif max_memory_kib and (used := resident_kib()) > max_memory_kib:
                retiring = f"uses {used} KiB > {max_memory_kib} KiB (max-memory-per-child)"
            _reply(sock, value, error, retiring)
            if retiring:
                return


def _run_one(
    target: Callable[[Any], Any], payload: Any, soft_time_limit: float | None
) -> tuple[Any, BaseException | None]:
    try:
        _soft_limit[:] = [soft_time_limit] if soft_time_limit else []
        _current_job[:] = [payload]
        if soft_time_limit:
            signal.setitimer(signal.ITIMER_REAL, soft_time_limit)
        try:
            return target(payload), None
        finally:
            if soft_time_limit:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:  # reported to the parent, which decides
        return None, exc


def _reply(sock: socket.socket, value: Any, error: BaseException | None, retiring: Any) -> None:
    try:
        frame = dump_frame((value, error, retiring))
    except Exception as exc:  # an outcome that cannot be pickled: say so instead
        what = f"{type(error).__module__}.{type(error).__qualname__}{error.args!r}" if error else ""
        stand_in = RuntimeError(f"the job's outcome could not be pickled ({exc!r}) {what}")
        frame = dump_frame((None, stand_in, retiring))
    sock.sendall(frame)
