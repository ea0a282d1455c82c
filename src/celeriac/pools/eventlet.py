"""The ``eventlet`` pool (``-P eventlet``): each job is an eventlet green thread.

Needs the ``eventlet`` package (``pip install 'celeriac[eventlet]'``) and a process that
eventlet patched before anything else was imported, which ``celeriac worker -P
eventlet`` does (see ``celeriac/_internal/greenpatch.py``). How jobs, time limits and
terminate work is in ``celeriac/pools/_green.py``. Eventlet itself is in maintenance
mode and says so when imported; prefer ``-P gevent`` for new work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, final

import eventlet
from eventlet import patcher

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools._green import GreenPool

__all__ = ["EventletPool"]


@final
class EventletPool(GreenPool):
    """Runs each job in an eventlet green thread of the worker's thread."""

    name = "eventlet"

    def _check_patched(self) -> None:
        if not patcher.is_monkey_patched("socket"):
            raise ImproperlyConfigured(
                "the eventlet pool needs eventlet's monkey-patching before anything is "
                "imported: start it as `celeriac worker -P eventlet`, or call "
                "eventlet.monkey_patch() first"
            )

    def _spawn(self, fn: Callable[..., None], *args: Any) -> Any:
        return eventlet.spawn(fn, *args)

    def _spawn_later(self, seconds: float, fn: Callable[..., None], *args: Any) -> Any:
        return eventlet.spawn_after(seconds, fn, *args)

    def _throw(self, greenlet: Any, exc: BaseException) -> None:
        # Switches into the green thread at once; control comes back on the next turn.
        greenlet.kill(exc)

    def _cancel(self, greenlet: Any) -> None:
        greenlet.cancel()  # only one that has not started: a running timer ends by itself

    def _join(self, greenlets: Sequence[Any], timeout: float | None) -> None:
        with eventlet.Timeout(timeout, False):
            for greenlet in greenlets:
                with contextlib.suppress(Exception):  # its failure was logged where it ran
                    greenlet.wait()
