"""Running as a daemon: a pidfile that refuses a second copy, and detaching (POSIX)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterator

from celeriac.exceptions import ImproperlyConfigured

__all__ = ["detach", "pidlock"]

logger = logging.getLogger(__name__)


def _running_pid(path: str) -> int | None:
    """The pid in ``path`` if that process is alive; ``None`` (and the file removed) if not."""
    try:
        with open(path) as file:
            text = file.read().strip()
    except FileNotFoundError:
        return None
    try:
        pid = int(text)
    except ValueError:
        pid = 0
    if pid > 0 and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except PermissionError:
            return pid  # alive, owned by someone else
        except ProcessLookupError:
            pass
        else:
            return pid
    logger.warning("Removing stale pidfile %s", path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return None


@contextlib.contextmanager
def pidlock(path: str) -> Iterator[None]:
    """Hold ``path`` with this process's pid for the duration of the block.

    A pidfile left by a process that no longer runs is replaced.

    Raises:
        ImproperlyConfigured: the pidfile names a running process.
    """
    path = os.path.abspath(path)
    pid = _running_pid(path)
    if pid is not None:
        raise ImproperlyConfigured(
            f"Pidfile ({path}) already exists.\nSeems we're already running? (pid: {pid})"
        )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError as exc:
        raise ImproperlyConfigured(f"Pidfile ({path}) was created by another process") from exc
    with os.fdopen(fd, "w") as file:
        file.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            with open(path) as file:
                mine = file.read().strip() == str(os.getpid())
            if mine:
                os.unlink(path)


def detach(*, logfile: str | None = None, umask: int | None = None) -> None:
    """Continue in a background process; the calling process exits with status 0.

    The daemon is the child of a new session's leader (so it cannot regain a terminal),
    keeps the working directory, reads nothing, and writes its output to ``logfile``
    (appended), or nowhere.

    Raises:
        ImproperlyConfigured: the platform cannot fork.
    """
    if not hasattr(os, "fork"):
        raise ImproperlyConfigured("--detach needs a platform with fork()")
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    if umask is not None:
        os.umask(umask)
    null = os.open(os.devnull, os.O_RDWR)
    out = null
    if logfile:
        out = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for target, source in ((0, null), (1, out), (2, out)):
        try:
            os.dup2(source, target)
        except OSError as exc:  # pragma: no cover - a closed standard stream
            if exc.errno != errno.EBADF:
                raise
    for fd in {null, out}:
        if fd > 2:
            os.close(fd)
