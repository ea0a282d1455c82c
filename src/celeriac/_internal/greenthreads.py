"""Real OS threads, and a way back into greenlets, in a process patched for a greenlet pool.

After gevent's or eventlet's monkey-patching, ``threading.Thread`` starts a greenlet of
the calling OS thread and every ``threading`` lock, event and condition waits by
switching greenlets. Code that needs a thread of its own (the AMQP client's event
loop) uses :class:`RealThread`, started with the library's saved original of
``_thread.start_new_thread``. Such a thread must never touch a patched primitive that
a greenlet may hold or wait on: a greenlet lock is not safe across OS threads, and the
OS thread has no greenlet hub of its own that would ever wake it. So the way back
is :class:`Handoff`: the OS thread appends a call to a queue and writes a byte to a
pipe, and a greenlet of the patched thread, waiting on that pipe with the patched
(cooperative) ``select``, runs the call among the other greenlets.

Nothing here imports gevent or eventlet unless the process was patched by it.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import importlib.util
import logging
import os
import select
import selectors
import sys
import threading
from collections.abc import Callable
from typing import Any, cast

__all__ = ["Handoff", "RealThread", "handoff", "original", "patched_by", "real_selector"]

logger = logging.getLogger(__name__)


def patched_by() -> str | None:
    """``gevent`` or ``eventlet`` if that library patched ``threading`` here, else ``None``."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
        return "gevent"
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("thread"):
        return "eventlet"
    return None


def original(module: str, name: str) -> Any:
    """The standard library's ``module.name`` as it was before any patching."""
    library = patched_by()
    if library == "gevent":
        return importlib.import_module("gevent.monkey").get_original(module, name)
    if library == "eventlet":
        return getattr(importlib.import_module("eventlet.patcher").original(module), name)
    return getattr(importlib.import_module(module), name)


def real_selector() -> selectors.BaseSelector:
    """A selector that blocks the calling OS thread (epoll where there is one)."""
    if patched_by() != "eventlet":
        return cast(selectors.BaseSelector, original("selectors", "DefaultSelector")())
    # eventlet's original("selectors") would still import its green select: load a
    # private copy of the module with the real select in place for its import.
    spec = importlib.util.find_spec("selectors")
    assert spec is not None and spec.loader is not None
    unpatched = importlib.util.module_from_spec(spec)
    green_select = sys.modules["select"]
    sys.modules["select"] = importlib.import_module("eventlet.patcher").original("select")
    try:
        spec.loader.exec_module(unpatched)
    finally:
        sys.modules["select"] = green_select
    return cast(selectors.BaseSelector, unpatched.DefaultSelector())


class RealThread:
    """``target()`` in an OS thread of its own, even in a patched process."""

    def __init__(self, target: Callable[[], object]) -> None:
        start_new_thread = original("_thread", "start_new_thread")
        self._over = original("_thread", "allocate_lock")()
        self._over.acquire()

        def main() -> None:
            try:
                target()
            finally:
                self._over.release()

        start_new_thread(main, ())

    def join(self, timeout: float) -> bool:
        """Wait (blocking this OS thread) up to ``timeout`` seconds; whether it ended."""
        if self._over.acquire(timeout=timeout):
            self._over.release()
            return True
        return False


class Handoff:
    """Runs calls made from any OS thread in a greenlet of the thread that made it."""

    def __init__(self) -> None:
        self._calls: collections.deque[tuple[Callable[..., object], tuple[Any, ...]]]
        self._calls = collections.deque()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)  # a full pipe means a wake-up is pending
        self.pid = os.getpid()

    def start(self) -> None:
        """Start the greenlet that runs the calls (a patched thread is a greenlet)."""
        threading.Thread(target=self._serve, name="celeriac-handoff", daemon=True).start()

    def call(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` soon in the greenlet (safe from any OS thread)."""
        self._calls.append((fn, args))
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"\0")

    def _serve(self) -> None:
        while True:
            select.select([self._read], [], [])
            with contextlib.suppress(BlockingIOError):
                os.read(self._read, 4096)
            while self._calls:
                fn, args = self._calls.popleft()
                try:
                    fn(*args)
                except Exception:
                    logger.exception("Handing %r over to the greenlets failed", fn)


_handoff: Handoff | None = None


def handoff() -> Handoff:
    """This process's :class:`Handoff` (made again after ``fork``)."""
    global _handoff
    if _handoff is None or _handoff.pid != os.getpid():
        _handoff = made = Handoff()  # before start(), which lets other greenlets run
        made.start()
    return _handoff
