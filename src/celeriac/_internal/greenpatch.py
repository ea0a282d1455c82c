"""Monkey-patching for the greenlet pools, done before anything else is imported.

``celeriac worker -P gevent`` (or ``-P eventlet``) needs the standard library patched
(sockets, ``time.sleep``, threads, ``select``) before any module keeps a reference to
the unpatched originals. As Celery's ``__main__`` does, the command line looks for
``-P``/``--pool`` in its arguments and patches first; since ``python -m celeriac`` and
the ``celeriac`` script both import the ``celeriac`` package before any code of theirs
runs, the package calls :func:`patch_for_command_line` before its own imports, and it
acts only when the program being run is one of those two entry points.

This module imports nothing but the standard library's ``os`` and ``sys``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["green_pool_requested", "patch_for_command_line"]

#: What ``sys.argv[0]`` is while ``python -m celeriac`` imports the package, and the
#: script names of the ``celeriac`` entry point.
_ENTRY_POINTS = ("-m", "celeriac", "celeriac.exe")


def green_pool_requested(argv: Sequence[str]) -> str | None:
    """``gevent`` or ``eventlet`` if ``argv`` asks a worker for that pool, else ``None``."""
    if "multi" in argv:  # multi only starts other processes: they patch themselves
        return None
    for index, arg in enumerate(argv):
        if arg.startswith("--pool="):
            value = arg.partition("=")[2]
        elif arg in ("-P", "--pool") and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("-P") and len(arg) > 2:
            value = arg[2:]
        else:
            continue
        value = value.lower()
        return value if value in ("gevent", "eventlet") else None
    return None


def patch_for_command_line() -> None:
    """Patch for a greenlet pool when this process is ``celeriac worker -P gevent|eventlet``.

    Does nothing for any other program importing celeriac, and nothing when the package
    is not installed (the worker then stops with a one-line error naming the extra).
    """
    argv = sys.argv
    if not argv or os.path.basename(argv[0]) not in _ENTRY_POINTS:
        return
    pool = green_pool_requested(argv[1:])
    if pool == "gevent":
        _patch_gevent()
    elif pool == "eventlet":
        _patch_eventlet()


def _patch_gevent() -> None:
    try:
        from gevent import monkey
    except ImportError:
        return
    monkey.patch_all()


def _patch_eventlet() -> None:
    try:
        import eventlet
    except ImportError:
        return
    eventlet.monkey_patch()
