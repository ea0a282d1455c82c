"""``celeriac beat``: options, the start-up text, scheduler paths, the pidfile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeriac import Celery
from celeriac._internal.daemon import pidlock
from celeriac.beat import DatabaseScheduler, PersistentScheduler, Scheduler, Service
from celeriac.beat.service import scheduler_class
from celeriac.cli.beat import startup_info
from celeriac.cli.main import main
from celeriac.exceptions import ImproperlyConfigured


def test_help_lists_celerys_beat_options() -> None:
    result = CliRunner().invoke(main, ["beat", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("-D, --detach", "-s, --schedule", "-S, --scheduler", "--max-interval"):
        assert option in result.output
    for option in ("-l, --loglevel", "-f, --logfile", "--pidfile", "--lease-timeout"):
        assert option in result.output
    assert "Beat Options" in result.output and "Daemonization Options" in result.output


def test_beat_is_listed_among_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert " beat " in result.output


def test_startup_info_has_celerys_shape(app: Celery, schedule_path: str) -> None:
    service = Service(app, schedule_filename=schedule_path, owner="host:1:abc")
    text = startup_info(service, loglevel="info", logfile=None)
    lines = text.splitlines()
    assert lines[0].startswith("LocalTime -> ")
    assert lines[1:] == [
        "Configuration ->",
        f"    . broker -> {app.broker_url}",
        "    . scheduler -> celeriac.beat.scheduler.PersistentScheduler",
        f"    . db -> {schedule_path}",
        "    . lease -> 30.00 seconds (as host:1:abc)",
        "    . logfile -> [stderr]@%INFO",
        "    . maxinterval -> 5.00 minutes (300s)",
    ]
    assert not Path(schedule_path).exists()  # showing it opened nothing


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, PersistentScheduler),
        ("celery.beat:PersistentScheduler", PersistentScheduler),
        ("celery.beat.PersistentScheduler", PersistentScheduler),
        ("celeriac.beat:DatabaseScheduler", DatabaseScheduler),
        ("celeriac.beat.DatabaseScheduler", DatabaseScheduler),
        (Scheduler, Scheduler),
    ],
)
def test_scheduler_class_paths(spec: str | type[Scheduler] | None, expected: type) -> None:
    assert scheduler_class(spec) is expected


@pytest.mark.parametrize("spec", ["nowhere:Thing", "celeriac.beat:Nope", "celeriac.beat:Service"])
def test_bad_scheduler_paths(spec: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        scheduler_class(spec)


def test_bad_scheduler_is_reported_by_the_command() -> None:
    result = CliRunner().invoke(main, ["beat", "-S", "nowhere:Thing"])
    assert result.exit_code == 1
    assert "cannot import scheduler 'nowhere:Thing'" in result.output


def test_pidlock_writes_and_removes_the_pidfile(tmp_path: Path) -> None:
    path = tmp_path / "beat.pid"
    with pidlock(str(path)):
        assert path.read_text() == f"{os.getpid()}\n"
    assert not path.exists()


def test_pidlock_refuses_a_running_process(tmp_path: Path) -> None:
    path = tmp_path / "beat.pid"
    with subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    ) as other:
        path.write_text(f"{other.pid}\n")
        try:
            with pytest.raises(ImproperlyConfigured, match="already running"), pidlock(str(path)):
                pass
        finally:
            assert other.stdin is not None
            other.stdin.close()
    assert path.read_text() == f"{other.pid}\n"


def test_pidlock_replaces_a_stale_pidfile(tmp_path: Path) -> None:
    path = tmp_path / "beat.pid"
    path.write_text("999999999\n")  # above any pid_max: no such process
    with pidlock(str(path)):
        assert path.read_text() == f"{os.getpid()}\n"
