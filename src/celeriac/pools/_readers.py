"""Where the prefork pool reads its children's sockets: the event loop, or its supervisor.

A pool started on a running event loop reads each child's outcomes there
(``loop.add_reader``): the outcome, the job's ``on_done`` and the next job's write happen
in one callback on the loop's thread, without a hop through another thread per job. The
supervisor thread still learns from the fork server when a child exited; it hands the
exit to the loop, which reads what the child sent before it died and reports its job, so
one thread alone reads a child's socket. :meth:`ChildReaders.detach` moves the sockets
(and exits not handled yet) to the supervisor's selector: the pool does that when it
stops, and it is what happens without a loop from the start.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import selectors
import threading
from collections.abc import Callable, Mapping
from typing import Any, final

from celeriac.pools._records import ChildRecord

__all__ = ["ChildReaders"]

logger = logging.getLogger(__name__)


@final
class ChildReaders:
    """Attaches children's sockets to the loop or the selector; hands exits over.

    Args:
        lock: The pool's lock (held by callers of :meth:`watch` and :meth:`exited`).
        selector: The supervisor thread's selector.
        handle: Handles bytes read from a child's socket (its outcome frames).
    """

    def __init__(
        self,
        lock: threading.Lock,
        selector: selectors.BaseSelector,
        handle: Callable[[ChildRecord, bytes], None],
    ) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = lock
        self._selector = selector
        self._handle = handle
        self._exited: Callable[[int, int | None], None] = lambda pid, status: None
        self._after_exits: Callable[[], None] = lambda: None
        self._closed: Callable[[ChildRecord], None] = lambda child: None
        self._exits: collections.deque[tuple[int, int | None]] = collections.deque()

    def on_exit(
        self,
        exited: Callable[[int, int | None], None],
        *,
        after: Callable[[], None],
        closed: Callable[[ChildRecord], None],
    ) -> None:
        """How to handle a reaped child: ``exited(pid, wait_status)``, on the reading thread.

        ``after()`` is called (lock held) once the loop handled the exits it was given;
        ``closed(child)`` once a child's socket reached end of file and was closed.
        """
        self._exited = exited
        self._after_exits = after
        self._closed = closed

    def use_running_loop(self) -> None:
        """Read on the event loop running in this thread, if there is one."""
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def watch(self, child: ChildRecord) -> None:
        """Start reading a new child's socket (lock held)."""
        if not self._post(self._attach, child):
            self._selector.register(child.sock, selectors.EVENT_READ, child)
            child.watcher = "selector"

    def read(self, child: ChildRecord) -> None:
        """Read what ``child`` sent; at end of file, stop reading and close its socket."""
        try:
            data = child.sock.recv(1 << 16)
        except OSError:
            data = b""
        if data:
            self._handle(child, data)
        else:  # it exited (or is exiting): the fork server reports how, if it still can
            self.close(child)
            self._closed(child)

    def close(self, child: ChildRecord) -> None:
        """Stop reading ``child``'s socket and close it."""
        if child.is_closed:
            return
        if child.watcher == "selector":
            self._selector.unregister(child.sock)
        elif child.watcher == "loop" and self.loop is not None:
            self.loop.remove_reader(child.sock.fileno())
        child.watcher = None
        child.sock.close()
        child.is_closed = True

    def exited(self, pid: int, status: int | None) -> bool:
        """Hand a reaped child to the loop (lock held); whether it was handed over."""
        if self.loop is None:
            return False
        self._exits.append((pid, status))
        if self._post(self._exits_on_loop):
            return True
        self._exits.pop()
        return False

    def detach(self, children: Mapping[int, ChildRecord]) -> None:
        """From now on the supervisor reads every child (and handles every exit)."""
        loop = self.loop
        if loop is None:
            return
        if loop.is_running() and not _runs_on(loop):
            done = threading.Event()

            def detach_there() -> None:
                self._detach_here(children)
                done.set()

            if self._post(detach_there):
                done.wait()
                return
        self._detach_here(children)

    def _post(self, callback: Callable[..., Any], *args: Any) -> bool:
        if self.loop is None:
            return False
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the supervisor reads from now on
            self.loop = None
            return False
        return True

    def _attach(self, child: ChildRecord) -> None:  # on the loop
        with self._lock:
            if self.loop is not None and not child.is_closed and child.watcher is None:
                self.loop.add_reader(child.sock.fileno(), self.read, child)
                child.watcher = "loop"

    def _exits_on_loop(self) -> None:
        while True:
            with self._lock:
                if not self._exits:
                    self._after_exits()
                    return
                pid, status = self._exits.popleft()
            self._exited(pid, status)

    def _detach_here(self, children: Mapping[int, ChildRecord]) -> None:
        with self._lock:
            loop, self.loop = self.loop, None
            for child in children.values():
                if child.watcher == "loop" and loop is not None:
                    loop.remove_reader(child.sock.fileno())
                    child.watcher = None
                if not child.is_closed and child.watcher is None:
                    self._selector.register(child.sock, selectors.EVENT_READ, child)
                    child.watcher = "selector"
            exits = list(self._exits)
            self._exits.clear()
        for pid, status in exits:
            self._exited(pid, status)


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
