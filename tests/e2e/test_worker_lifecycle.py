"""Starting, naming and stopping workers; the command line around them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.conftest import EXAMPLES
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e


def _celeriac(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celeriac", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_warm_shutdown_finishes_the_running_task(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker("-I", "proj.extra")
    marker = project_dir / "started"
    res = extra.sleeper.delay(1.0, str(marker))
    assert wait_until(marker.exists)
    assert worker.stop(signal.SIGTERM) == 0
    assert res.get(timeout=5) == "slept"
    assert any("Warm shutdown" in line for line in worker.lines)


def test_second_signal_is_a_cold_shutdown(
    extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start_worker("-I", "proj.extra")
    marker = project_dir / "started"
    res = extra.sleeper.delay(30, str(marker))
    assert wait_until(marker.exists)
    worker.process.send_signal(signal.SIGINT)
    assert worker.wait_for_line("Warm shutdown")
    worker.process.send_signal(signal.SIGINT)
    assert worker.process.wait(timeout=10) is not None
    assert worker.wait_for_line("Cold shutdown")
    assert res.state == "PENDING"


def test_retry_reaches_success(extra: ModuleType, start_worker: Any, project_dir: Path) -> None:
    start_worker("-I", "proj.extra")
    res = extra.flaky.delay(str(project_dir / "count"))
    assert res.get(timeout=10) == 2


def test_request_context_inside_the_worker(extra: ModuleType, start_worker: Any) -> None:
    start_worker("-I", "proj.extra", "-n", "ctx@%h")
    info = extra.whoami.delay().get(timeout=10)
    assert info["hostname"].startswith("ctx@")
    assert info["retries"] == 0 and info["called_directly"] is False
    assert info["delivery_info"]["routing_key"] == "celery"


def test_hostname_queues_and_purge_in_banner(proj: ModuleType, start_worker: Any) -> None:
    waiting = proj.add.apply_async((1, 1), queue="images")
    worker = start_worker("-n", "w1@%h", "-Q", "images,video", "-X", "video", "--purge")
    banner = worker.output
    assert f"w1@{os.uname().nodename}" in banner
    assert ".> images" in banner and ".> video" not in banner
    assert "proj.tasks.add" in banner
    assert waiting.state == "PENDING"
    from proj.celeriac import app

    assert app.broker.size("images") == 0


def test_app_found_by_every_spelling(project_dir: Path, start_worker: Any) -> None:
    for spelling in ("proj", "proj.celeriac", "proj.celeriac:app"):
        worker = start_worker(app=spelling)
        assert "proj.tasks.add" in worker.output
        assert worker.stop() == 0


def test_app_from_environment(project_dir: Path) -> None:
    env = {**os.environ, "CELERY_APP": "proj"}
    done = subprocess.run(
        [sys.executable, "-m", "celeriac", "worker", "--help"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0


def test_python_dash_m_project_module(project_dir: Path) -> None:
    from celeriac.testing.processes import WorkerProcess

    worker = WorkerProcess("proj", cwd=project_dir)
    worker.command = [sys.executable, "-m", "proj.celeriac", "worker", "-l", "INFO"]
    with worker:
        assert "proj.tasks.add" in worker.output


def test_broken_app_is_one_clear_line(project_dir: Path) -> None:
    done = _celeriac(project_dir, "-A", "no_such_project", "worker")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "no_such_project" in errors[0]
    assert "Traceback" not in done.stderr


def test_app_module_that_fails_to_import(project_dir: Path) -> None:
    (project_dir / "broken.py").write_text("import not_a_real_dependency\n")
    done = _celeriac(project_dir, "-A", "broken", "worker")
    assert done.returncode != 0
    assert "not_a_real_dependency" in done.stderr
    assert "Traceback" not in done.stderr


def test_unwritable_sqlite_path_is_a_clear_error(project_dir: Path) -> None:
    done = _celeriac(
        project_dir, "-A", "proj", "-b", "sqlite:////nonexistent/dir/b.sqlite3", "worker"
    )
    assert done.returncode != 0
    assert "/nonexistent/dir/b.sqlite3" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_green_pool_without_its_package_is_refused_in_one_line(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Packages that fail to import as a missing one does, found before the real ones.
    hidden = project_dir / "hidden"
    for pool in ("gevent", "eventlet"):
        (hidden / pool).mkdir(parents=True)
        (hidden / pool / "__init__.py").write_text(f"raise ImportError('No module named {pool}')")
    monkeypatch.setenv("PYTHONPATH", str(hidden))
    for pool in ("gevent", "eventlet"):
        done = _celeriac(project_dir, "-A", "proj", "worker", "-P", pool)
        assert done.returncode != 0
        errors = [line for line in done.stderr.splitlines() if "Error" in line]
        assert len(errors) == 1 and f"pip install 'celeriac[{pool}]'" in errors[0], done.stderr
        assert "Traceback" not in done.stderr


#: The seed's ``celery worker --help`` listing, by group.
SEED_WORKER_OPTIONS = {
    "Worker Options:": "-n, --hostname|-D, --detach|-S, --statedb|-l, --loglevel|-O|"
    "--prefetch-multiplier|--disable-prefetch",
    "Pool Options:": "-c, --concurrency|-P, --pool|-E, --task-events, --events|--time-limit|"
    "--soft-time-limit|--max-tasks-per-child|--max-memory-per-child",
    "Queue Options:": "--purge, --discard|-Q, --queues|-X, --exclude-queues|-I, --include",
    "Features:": "--without-gossip|--without-mingle|--without-heartbeat|--heartbeat-interval|"
    "--autoscale",
    "Embedded Beat Options:": "-B, --beat|-s, --schedule-filename, --schedule|--scheduler",
    "Daemonization Options:": "-f, --logfile|--pidfile|--uid|--gid|--umask|--executable",
}


def test_worker_help_lists_the_seeds_options_in_its_groups(project_dir: Path) -> None:
    text = _celeriac(project_dir, "worker", "--help").stdout
    headings = [line for line in text.splitlines() if line.endswith(":") and line[0] != " "]
    assert headings == [*SEED_WORKER_OPTIONS, "Options:"]
    for heading, flags in SEED_WORKER_OPTIONS.items():
        section = text.split(heading, 1)[1].split("\n\n", 1)[0]
        listed = [line.split("  ")[1].split(" [")[0] for line in section.splitlines()[1:]]
        option_lines = [entry for entry in listed if entry.startswith("-")]
        for flag in flags.split("|"):
            assert any(line.startswith(flag) for line in option_lines), (heading, flag)
    assert "--detached-status-fd" not in text


def test_version(project_dir: Path) -> None:
    import celeriac

    assert _celeriac(project_dir, "--version").stdout.strip() == celeriac.__version__


def test_demo_command_runs_the_guide(project_dir: Path) -> None:
    done = _celeriac(project_dir, "-A", "proj", "demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert ">>> add(2, 2)\n4" in out
    assert "TypeError: unsupported operand" in out
    assert "'FAILURE'" in out and "'PENDING'" in out
    assert "worker stopped (exit code 0)" in out
    assert EXAMPLES.exists()
