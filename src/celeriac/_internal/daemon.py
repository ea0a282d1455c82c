"""Running as a daemon (POSIX): pidfiles, detaching, privileges, node-named file paths.

Two ways to detach. :func:`detach` forks in place and suits a process that has started
nothing yet (``celeriac beat -D``). :func:`spawn_daemon` is what ``celeriac worker -D``
does, as Celery does: fork twice, then *exec* the same command line again, so the
daemon is a fresh interpreter that inherited no threads and no locks. The command
waits until the daemon reports, through a pipe, that it started (or why it could not),
so ``celeriac multi start`` can say ``OK`` or ``FAILED`` truthfully.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import pwd
import select
import time
from collections.abc import Iterator, Sequence

from celeriac._internal.naming import expand_percent
from celeriac.exceptions import ImproperlyConfigured

__all__ = [
    "StartupReport",
    "detach",
    "drop_privileges",
    "node_format",
    "parse_umask",
    "pidlock",
    "spawn_daemon",
]

logger = logging.getLogger(__name__)

#: Seconds ``spawn_daemon`` waits for the daemon to report that it started.
STARTUP_TIMEOUT = 60.0


def node_format(template: str, nodename: str, *, index: int | None = None) -> str:
    """Expand a log, pid or state file template for ``nodename`` (``name@host``).

    ``%n`` the name before ``@``, ``%h`` the host after it, ``%d`` the host's domain,
    ``%p`` the full node name, ``%i`` the pool process index (0 in the main process),
    ``%I`` ``-<index>`` (empty in the main process), ``%%`` a percent sign. With
    ``index=None``, ``%i`` and ``%I`` are kept for a later expansion.

    Raises:
        ValueError: an unknown ``%`` letter is used.
    """
    name, _, host = nodename.rpartition("@") if "@" in nodename else ("", "", nodename)
    values = {
        "n": name or nodename,
        "h": host,
        "d": host.partition(".")[2],
        "p": nodename,
        "%": "%",
        "i": "%i" if index is None else str(index),
        "I": "%I" if index is None else (f"-{index}" if index else ""),
    }
    return expand_percent(template, values)


def parse_umask(value: str | int | None) -> int | None:
    """``--umask``: an octal string (``022``, ``0o022``) or a number.

    Raises:
        ValueError: not an octal number.
    """
    if value is None or isinstance(value, int):
        return value
    return int(value.removeprefix("0o"), 8)


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
        ImproperlyConfigured: the pidfile names a running process (one line).
    """
    path = os.path.abspath(path)
    pid = _running_pid(path)
    if pid is not None:
        raise ImproperlyConfigured(
            f"Pidfile {path} names a running process (pid {pid}): already running?"
        )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError as exc:
        raise ImproperlyConfigured(f"Pidfile {path} was created by another process") from exc
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot create pidfile {path}: {exc.strerror}") from exc
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


def drop_privileges(uid: str | int | None = None, gid: str | int | None = None) -> None:
    """Become user ``uid`` and group ``gid`` (names or numbers); no-op when both are None.

    With only ``uid``, the group is that user's primary group. The supplementary groups
    are the user's. Afterwards, regaining root must fail, or this raises.

    Raises:
        ImproperlyConfigured: an unknown user or group, or the change is not permitted.
    """
    if uid is None and gid is None:
        return
    user = _user(uid) if uid is not None else None
    group_id = _group_id(gid) if gid is not None else (user.pw_gid if user else None)
    try:
        if group_id is not None and group_id != os.getgid():
            if user is not None:
                os.initgroups(user.pw_name, group_id)
            else:
                os.setgroups([group_id])
            os.setgid(group_id)
        if user is not None and user.pw_uid != os.getuid():
            os.setuid(user.pw_uid)
    except PermissionError as exc:
        raise ImproperlyConfigured(f"Cannot change to uid={uid} gid={gid}: {exc.strerror}") from exc
    if user is not None and user.pw_uid != 0:
        with contextlib.suppress(PermissionError):
            os.setuid(0)
            raise ImproperlyConfigured("Still able to regain root after dropping privileges")


def _user(uid: str | int) -> pwd.struct_passwd:
    try:
        if isinstance(uid, int) or uid.isdigit():
            return pwd.getpwuid(int(uid))
        return pwd.getpwnam(uid)
    except KeyError as exc:
        raise ImproperlyConfigured(f"Unknown user: {uid}") from exc


def _group_id(gid: str | int) -> int:
    if isinstance(gid, int) or gid.isdigit():
        return int(gid)
    try:
        return grp.getgrnam(gid).gr_gid
    except KeyError as exc:
        raise ImproperlyConfigured(f"Unknown group: {gid}") from exc


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
    _redirect_stdio(logfile)


def _redirect_stdio(logfile: str | None) -> None:
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


def spawn_daemon(
    argv: Sequence[str],
    *,
    status_option: str,
    logfile: str | None = None,
    umask: int | None = None,
    uid: str | None = None,
    gid: str | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> str | None:
    """Run ``argv`` as a daemon; wait until it reports; ``None`` if it started, else why not.

    The daemon runs in a new session with the same working directory, as ``uid``/``gid``,
    with ``umask``, its output appended to ``logfile`` (or discarded). ``argv`` is run with
    ``<status_option>=<fd>`` appended: the program writes ``ok`` or ``error: <why>`` (one
    line) to that file descriptor once it knows, see :class:`StartupReport`.

    Raises:
        ImproperlyConfigured: the platform cannot fork.
    """
    if not hasattr(os, "fork"):
        raise ImproperlyConfigured("--detach needs a platform with fork()")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked processes
        os.close(read_fd)
        _become_daemon(argv, status_option, write_fd, logfile, umask, uid, gid)
    os.close(write_fd)
    os.waitpid(pid, 0)
    try:
        line = _read_line(read_fd, timeout)
    finally:
        os.close(read_fd)
    if line == "ok":
        return None
    if line.startswith("error: "):
        return line.removeprefix("error: ")
    if not line:
        where = f"; see {logfile}" if logfile else ""
        return f"the daemon exited before it started{where}"
    return line


def _become_daemon(
    argv: Sequence[str],
    status_option: str,
    status_fd: int,
    logfile: str | None,
    umask: int | None,
    uid: str | None,
    gid: str | None,
) -> None:  # pragma: no cover - runs in the forked processes
    """In the first child: new session, fork again, set up, exec ``argv``. Never returns."""
    try:
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        drop_privileges(uid, gid)
        if umask is not None:
            os.umask(umask)
        try:
            _redirect_stdio(logfile)
        except OSError as exc:
            raise ImproperlyConfigured(f"cannot open log file {logfile}: {exc.strerror}") from exc
        os.set_inheritable(status_fd, True)
        try:
            os.execv(argv[0], [*argv, f"{status_option}={status_fd}"])
        except OSError as exc:
            raise ImproperlyConfigured(f"cannot run {argv[0]}: {exc.strerror}") from exc
    except BaseException as exc:  # report it to the waiting command, then leave
        with contextlib.suppress(OSError):
            message = str(exc) if isinstance(exc, ImproperlyConfigured) else repr(exc)
            os.write(status_fd, f"error: {message}\n".encode())
    os._exit(1)


def _read_line(fd: int, timeout: float) -> str:
    """The first line written to ``fd`` (empty at end of file); waits ``timeout`` at most."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"the daemon did not report within {timeout:.0f} s"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0].decode(errors="replace").strip()


class StartupReport:
    """The daemon's side of :func:`spawn_daemon`: say once whether start-up worked.

    Args:
        fd: The status file descriptor, or ``None`` when not started by ``spawn_daemon``
            (then reporting does nothing).
    """

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def ok(self) -> None:
        """Started: the waiting command exits with status 0."""
        self._send("ok")

    def fail(self, reason: str) -> None:
        """Could not start: the waiting command prints ``reason`` and exits with 1."""
        self._send("error: " + " ".join(reason.split()))

    def _send(self, line: str) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(OSError):
            os.write(fd, line.encode() + b"\n")
        with contextlib.suppress(OSError):
            os.close(fd)
