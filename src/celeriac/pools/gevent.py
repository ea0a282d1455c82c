"""The ``gevent`` pool (``-P gevent``): each job is a gevent greenlet.

Needs the ``gevent`` package (``pip install 'celeriac[gevent]'``) and a process that
gevent patched before anything else was imported, which ``celeriac worker -P gevent``
does (see ``celeriac/_internal/greenpatch.py``). How jobs, time limits and terminate
work is in ``celeriac/pools/_green.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, final

import gevent
from gevent import monkey

from celeriac.exceptions import ImproperlyConfigured
from celeriac.pools._green import GreenPool

__all__ = ["GeventPool"]


@final
class GeventPool(GreenPool):
    """Runs each job in a gevent greenlet of the worker's thread."""

    name = "gevent"

    def _check_patched(self) -> None:
        if not monkey.is_module_patched("socket"):
            raise ImproperlyConfigured(
                "the gevent pool needs gevent's monkey-patching before anything is imported: "
                "start it as `celeriac worker -P gevent`, or call "
                "gevent.monkey.patch_all() first"
            )

    def _spawn(self, fn: Callable[..., None], *args: Any) -> Any:
        return gevent.spawn(fn, *args)

    def _spawn_later(self, seconds: float, fn: Callable[..., None], *args: Any) -> Any:
        return gevent.spawn_later(seconds, fn, *args)

    def _throw(self, greenlet: Any, exc: BaseException) -> None:
        greenlet.kill(exc, block=False)

    def _cancel(self, greenlet: Any) -> None:
        greenlet.kill(block=False)

    def _join(self, greenlets: Sequence[Any], timeout: float | None) -> None:
        gevent.joinall(greenlets, timeout=timeout)
