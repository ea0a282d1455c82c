"""``celeriac dashboard`` as a process: it serves, shows the URL, and stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeriac.cli.main import main

pytestmark = pytest.mark.e2e


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--address", "--basic-auth", "--token", "--max-tasks"):
        assert option in result.output


def test_basic_auth_needs_a_colon() -> None:
    result = CliRunner().invoke(main, ["-b", "memory://", "dashboard", "--basic-auth", "nopass"])
    assert result.exit_code == 2 and "USER:PASSWORD" in result.output


def test_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
    command = [sys.executable, "-m", "celeriac", "-b", url, "dashboard", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--address", "127.0.0.1", "-l", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"celeriac dashboard on (http://127\.0\.0\.1:\d+/)", banner)
        assert found, banner
        base = found.group(1)
        with urllib.request.urlopen(base + "healthz", timeout=10) as response:
            assert response.read() == b"ok"
        with urllib.request.urlopen(base + "metrics", timeout=10) as response:
            text = response.read().decode()
        assert "# TYPE celeriac_tasks_total counter" in text
        assert "# TYPE celeriac_queue_length gauge" in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
