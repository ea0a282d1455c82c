"""Daemon helpers: node-named paths, umask, pidfiles, privileges, the start-up report."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

import pytest

from celeriac._internal.daemon import (
    StartupReport,
    drop_privileges,
    node_format,
    parse_umask,
    pidlock,
    spawn_daemon,
)
from celeriac.exceptions import ImproperlyConfigured


def test_node_format_expands_like_celery_for_file_names() -> None:
    node = "w1@box.example.com"
    assert node_format("%n.pid", node) == "w1.pid"
    assert node_format("%h|%d|%p|%%", node) == "box.example.com|example.com|w1@box.example.com|%"
    assert node_format("%n%I.log", node) == "w1%I.log"  # kept for the pool processes
    assert node_format("%n%I.log", node, index=0) == "w1.log"
    assert node_format("%n%I-%i.log", node, index=2) == "w1-2-2.log"
    with pytest.raises(ValueError, match="unknown format %x"):
        node_format("%x", node)


def test_parse_umask_reads_octal() -> None:
    assert parse_umask("022") == 0o22
    assert parse_umask("0o077") == 0o77
    assert parse_umask(None) is None
    with pytest.raises(ValueError):
        parse_umask("9")


def test_pidlock_refuses_a_live_pid_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "w.pid"
    path.write_text(f"{os.getppid()}\n")
    with pytest.raises(ImproperlyConfigured) as info, pidlock(str(path)):
        pass
    assert "\n" not in str(info.value) and f"pid {os.getppid()}" in str(info.value)


def test_pidlock_cannot_create_in_a_missing_directory(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing" / "w.pid")
    with pytest.raises(ImproperlyConfigured, match="Cannot create pidfile"), pidlock(missing):
        pass


def _in_child(fn: object) -> int:
    """Run ``fn()`` in a forked child; its exit status (0 if it returned)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            fn()  # type: ignore[operator]
        except BaseException:
            os._exit(1)
        os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to change users")
def test_drop_privileges_to_nobody() -> None:
    nobody = pwd.getpwnam("nobody")

    def drop() -> None:
        drop_privileges("nobody")
        assert os.getuid() == nobody.pw_uid and os.getgid() == nobody.pw_gid

    assert _in_child(drop) == 0


def test_drop_privileges_errors() -> None:
    with pytest.raises(ImproperlyConfigured, match="Unknown user"):
        drop_privileges("no-such-user-celeriac")
    with pytest.raises(ImproperlyConfigured, match="Unknown group"):
        drop_privileges(gid="no-such-group-celeriac")
    drop_privileges(os.getuid())  # already that user: nothing to do


def test_startup_report_says_once(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    report = StartupReport(write_fd)
    report.fail("bad\nthing")
    report.ok()  # ignored: it already said
    assert os.read(read_fd, 100) == b"error: bad thing\n"
    assert os.read(read_fd, 100) == b""  # and closed its end
    os.close(read_fd)
    StartupReport(None).ok()  # not started as a daemon: nothing to say


def test_spawn_daemon_reports_what_the_daemon_says(tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(
        "import os, sys\n"
        "fd = int(sys.argv[-1].split('=')[1])\n"
        "os.write(fd, (sys.argv[1] + '\\n').encode())\n"
        "print('to the log', os.getpid(), os.getsid(0) == os.getpid())\n"
    )
    log = tmp_path / "out.log"
    ok = spawn_daemon(
        [sys.executable, str(script), "ok"], status_option="--fd", logfile=str(log), umask=0o22
    )
    assert ok is None
    failed = spawn_daemon([sys.executable, str(script), "error: it broke"], status_option="--fd")
    assert failed == "it broke"
    silent = spawn_daemon([sys.executable, "-c", "pass"], status_option="--fd")
    assert silent is not None and "exited before it started" in silent
    missing = spawn_daemon([str(tmp_path / "nope")], status_option="--fd")
    assert missing is not None and "cannot run" in missing
    bad_log = spawn_daemon(
        [sys.executable, "-c", "pass"], status_option="--fd", logfile=str(tmp_path / "x" / "y")
    )
    assert bad_log is not None and "cannot open log file" in bad_log
