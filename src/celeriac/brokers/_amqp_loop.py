"""The private event loop the AMQP client runs on, in a thread of its own.

Everything that touches an AMQP connection runs on one asyncio loop in a daemon
thread, so the blocking face (clients, pool threads) and the asyncio face (the
worker's loop) share one connection and never block each other: blocking calls wait
on a future, coroutines await a wrapped one. Heartbeats are answered by that loop,
whatever the caller is doing.

In a process patched for a greenlet pool (``-P gevent``/``-P eventlet``) a
``threading.Thread`` is only a greenlet of the caller's OS thread, where the worker's
own loop already runs, and asyncio allows one running loop per OS thread. There the
loop gets a real OS thread (``celeriac/_internal/greenthreads.py``) and the
standard library's unpatched selector, and resolves host names itself (the default
executor's threads would be greenlets that thread never runs). That thread touches no
patched lock: results, replies and the start-up signal go back through the process's
:class:`~celeriac._internal.greenthreads.Handoff`, which sets them from a greenlet,
where the callers' futures (patched, cooperative locks) may be completed safely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from celeriac._internal import greenthreads
from celeriac.exceptions import OperationalError

__all__ = ["LoopThread"]

T = TypeVar("T")


class _RealThreadLoop(asyncio.SelectorEventLoop):
    """A loop for a real OS thread in a patched process: unpatched selector and resolver."""

    def __init__(self) -> None:
        super().__init__(greenthreads.real_selector())
        self._getaddrinfo = greenthreads.original("socket", "getaddrinfo")

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        # Only while connecting, on this loop's own thread: blocking it briefly is fine.
        result: list[Any] = self._getaddrinfo(host, port, family, type, proto, flags)
        return result


class LoopThread:
    """A private asyncio loop in a daemon thread (made again after ``fork``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | greenthreads.RealThread | None = None
        self._handoff: greenthreads.Handoff | None = None
        self._pid = 0

    def is_running(self) -> bool:
        """Whether the loop runs in this process."""
        return self.loop is not None and self._pid == os.getpid()

    def start(self) -> None:
        """Start the loop thread, unless it runs already."""
        if self.is_running():
            return
        handoff = greenthreads.handoff() if greenthreads.patched_by() else None
        loop = _RealThreadLoop() if handoff else asyncio.new_event_loop()
        ready = threading.Event()  # patched in a patched process: set only by a greenlet

        def run() -> None:
            asyncio.set_event_loop(loop)
            if handoff is None:
                loop.call_soon(ready.set)
            else:
                loop.call_soon(handoff.call, ready.set)
            loop.run_forever()

        thread: threading.Thread | greenthreads.RealThread
        if handoff is None:
            thread = threading.Thread(target=run, name=self.name, daemon=True)
            thread.start()
        else:
            thread = greenthreads.RealThread(run)
        ready.wait()
        self.loop, self._thread, self._handoff, self._pid = loop, thread, handoff, os.getpid()

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        loop, thread = self.loop, self._thread
        self.loop = self._thread = None
        if loop is None or thread is None or self._pid != os.getpid():
            return
        loop.call_soon_threadsafe(loop.stop)
        if isinstance(thread, greenthreads.RealThread):
            ended = thread.join(timeout=10)
        else:
            thread.join(timeout=10)
            ended = not thread.is_alive()
        if ended:
            loop.close()

    def to_callers(self, fn: Callable[..., object], *args: Any) -> None:
        """From the loop, run ``fn(*args)`` where it may touch the callers' locks.

        That is right here, unless the process is patched for a greenlet pool: then in a
        greenlet of the patched thread.
        """
        if self._handoff is None:
            fn(*args)
        else:
            self._handoff.call(fn, *args)

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if not self.is_running():
            coro.close()
            raise OperationalError(f"{self.name} is not open")
        assert self.loop is not None
        if self._handoff is None:
            return asyncio.run_coroutine_threadsafe(coro, self.loop)
        return self._submit_green(self.loop, coro)

    def _submit_green(
        self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> concurrent.futures.Future[T]:
        """``run_coroutine_threadsafe``, with the future completed from a greenlet."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []
        abandoned: list[bool] = []  # the loop never touches the future's (patched) lock

        def settle(task: asyncio.Task[T]) -> None:  # in a greenlet
            if future.done():
                return
            if task.cancelled():
                future.cancel()
            elif (error := task.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(task.result())

        def begin() -> None:  # on the loop
            if abandoned:
                coro.close()
                return
            task = loop.create_task(coro)
            tasks.append(task)
            task.add_done_callback(lambda done: self.to_callers(settle, done))

        def cancel_task() -> None:  # on the loop, after begin()
            for task in tasks:
                task.cancel()

        def on_done(done: concurrent.futures.Future[T]) -> None:  # in the caller's thread
            if done.cancelled() and self.is_running():
                abandoned.append(True)
                loop.call_soon_threadsafe(cancel_task)

        future.add_done_callback(on_done)
        loop.call_soon_threadsafe(begin)
        return future

    def _on_loop(self, fn: Callable[..., object], *args: Any) -> None:
        if asyncio._get_running_loop() is self.loop:
            fn(*args)
        elif self.is_running():
            assert self.loop is not None
            self.loop.call_soon_threadsafe(fn, *args)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        if self.loop is not None and asyncio._get_running_loop() is self.loop:
            coro.close()
            raise RuntimeError(f"blocking call on {self.name}'s own thread")
        future = self._submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    async def arun(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        on_abandoned: Callable[[T], object] | None = None,
    ) -> T:
        """Await ``coro`` from another event loop.

        If the caller is cancelled after ``coro`` produced its result, that result is
        handed to ``on_abandoned`` on the loop (so fetched messages can be given back).
        """
        future = self._submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if on_abandoned is not None:

                def give_back(done: concurrent.futures.Future[T]) -> None:
                    if not done.cancelled() and done.exception() is None:
                        self._on_loop(on_abandoned, done.result())

                future.add_done_callback(give_back)
            raise
