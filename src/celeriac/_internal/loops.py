"""Event loops for ``async def`` tasks run outside the ``asyncio`` pool.

Under the prefork, threads and solo pools (and ``Task.apply``) an async task is run to
completion on an event loop owned by the thread that runs it: created on first use and
reused for every later task of that thread, so connection pools and other loop-bound
state a task keeps survive between tasks (``asyncio.run`` per task would close them).

A thread that is already running a loop (the solo pool runs jobs in the worker's own
loop thread; an eager call from async code) cannot run a second one, so its coroutines
go to one shared *side loop* in a helper thread and the caller waits for them there.

Under the greenlet pools a job runs in a greenlet of the thread whose loop is running
(the worker's), in which no second loop can run either: its coroutine runs on that
running loop, and the job's greenlet waits for it (a patched wait, so the loop runs).
An exception thrown into the waiting greenlet (a time limit, terminate) cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from celeriac._internal.interrupts import JobScope

__all__ = ["run_coroutine"]

T = TypeVar("T")

_local = threading.local()
_side: list[asyncio.AbstractEventLoop] = []
_side_lock = threading.Lock()


class _ThreadLoop:
    """A thread's own loop, closed when the thread ends (its thread-local goes away)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_running():
            self.loop.close()


def _thread_loop() -> asyncio.AbstractEventLoop:
    holder: _ThreadLoop | None = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _local.holder = _ThreadLoop()
    return holder.loop


def _side_loop() -> asyncio.AbstractEventLoop:
    with _side_lock:
        if not _side:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="celeriac-async-tasks", daemon=True
            )
            thread.start()
            _side.append(loop)
        return _side[0]


def _forget_loops() -> None:
    # A forked child must not share its parent's selector (an epoll fd is shared).
    _local.__dict__.clear()
    _side.clear()


os.register_at_fork(after_in_child=_forget_loops)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def run_coroutine(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion from synchronous code and return its value.

    The coroutine sees the caller's context variables (the running task, the current
    app). An exception a signal handler raises while the loop waits (a soft time limit)
    is raised inside the coroutine, at its current ``await``; anything that ends the
    wait for good (``KeyboardInterrupt``, ``SystemExit``) cancels the coroutine first,
    so nothing of it is left on the loop for the next task.
    """
    coro: Coroutine[Any, Any, T] = _as_coroutine(awaitable)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    if getattr(running, "_thread_id", None) not in (None, threading.get_ident()):
        # A loop "runs" here, yet in another (green) thread: a greenlet pool's job.
        return _run_on_loop_of_other_greenlet(coro, running)
    return _run_on_side_loop(coro)


def _run_on_loop_of_other_greenlet(
    coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop
) -> T:
    context = contextvars.copy_context()
    future = asyncio.run_coroutine_threadsafe(_in_context(coro, context), loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # a time limit or terminate ended the wait: end the coroutine too
        raise


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    loop = _thread_loop()
    scope = JobScope()
    task = loop.create_task(scope.guard(coro))
    try:
        while True:
            try:
                return loop.run_until_complete(task)
            except Exception as exc:
                # Raised by a signal handler while the loop waited (the prefork soft
                # time limit): deliver it at the coroutine's await, and keep running.
                if task.done() or not scope.interrupt(exc, final=False):
                    raise
    finally:
        if not task.done():
            task.cancel()
            # Let it unwind; its own ending (a CancelledError) is not what to report.
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)


def _run_on_side_loop(coro: Coroutine[Any, Any, T]) -> T:
    loop = _side_loop()
    context = contextvars.copy_context()
    return asyncio.run_coroutine_threadsafe(_in_context(coro, context), loop).result()


async def _in_context(coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    task = context.run(asyncio.ensure_future, coro)
    return await task
