"""``worker --metrics-port``: Prometheus metrics served by a real worker process."""

from __future__ import annotations

import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import run_celeriac
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

Samples = dict[str, list[tuple[str, dict[str, str], float]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def _tasks(samples: Samples) -> dict[tuple[str, str], float]:
    """``celeriac_tasks_total`` as {(name, state): value} (one worker)."""
    return {(s[1]["name"], s[1]["state"]): s[2] for s in samples["celeriac_tasks"]}


def _gauge(samples: Samples, family: str) -> float:
    (only,) = samples[family]
    return only[2]


def _runtime_count(samples: Samples, name: str) -> float:
    counts = [
        s[2]
        for s in samples["celeriac_task_runtime_seconds"]
        if s[0] == "celeriac_task_runtime_seconds_count" and s[1]["name"] == name
    ]
    return sum(counts)


def _url_in_log(worker: Any) -> str:
    assert worker.wait_for_line("Metrics on http://"), worker.output
    found = re.search(r"Metrics on (http://\S+/metrics)", worker.output)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo", "asyncio"])
def test_counts_by_state_and_name_and_runtimes(
    proj: ModuleType, extra: ModuleType, start_worker: Any, pool: str
) -> None:
    port = _free_port()
    worker = start_worker("-P", pool, "-c", "2", "-I", "proj.extra", "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    assert url in worker.output
    hostname = worker.output.split()[0]
    adds = [proj.add.delay(i, i) for i in range(3)]
    product = proj.mul.delay(6, 7)
    failures = [extra.fail_with.delay(f"no {i}") for i in range(2)]
    assert [r.get(timeout=20) for r in adds] == [0, 2, 4]
    assert product.get(timeout=20) == 42
    for failure in failures:
        with pytest.raises(ValueError):
            failure.get(timeout=20)
    add, mul, fail = "proj.tasks.add", "proj.tasks.mul", "proj.extra.fail_with"
    expected = {
        **{(add, state): 3.0 for state in ("RECEIVED", "STARTED", "SUCCESS")},
        **{(mul, state): 1.0 for state in ("RECEIVED", "STARTED", "SUCCESS")},
        **{(fail, state): 2.0 for state in ("RECEIVED", "STARTED", "FAILURE")},
    }
    # The client sees a result once it is stored; the worker counts it right after.
    assert wait_until(lambda: _tasks(_scrape(url)) == expected, timeout=10), _scrape(url)
    samples = _scrape(url)
    assert {s[1]["worker"] for s in samples["celeriac_tasks"]} == {hostname}
    assert _runtime_count(samples, add) == 3.0
    assert _runtime_count(samples, mul) == 1.0
    assert _runtime_count(samples, fail) == 0.0  # runtimes are those of succeeded tasks
    buckets = [s for s in samples["celeriac_task_runtime_seconds"] if s[0].endswith("_bucket")]
    assert {s[2] for s in buckets if s[1]["le"] == "+Inf"} == {3.0, 1.0}
    assert samples["celeriac_queue_length"] == [("celeriac_queue_length", {"queue": "celery"}, 0.0)]
    assert _gauge(samples, "celeriac_worker_active_tasks") == 0.0
    assert _gauge(samples, "celeriac_worker_prefetched_tasks") == 0.0
    assert samples["celeriac_worker_online"] == [
        ("celeriac_worker_online", {"worker": hostname}, 1.0)
    ]
    assert _gauge(samples, "celeriac_workers_online") == 1.0


def test_running_and_prefetched_tasks_and_a_revoke(
    proj: ModuleType, extra: ModuleType, start_worker: Any, tmp_path: Path
) -> None:
    worker = start_worker("-c", "1", "-I", "proj.extra", "--metrics-port", "0")
    url = _url_in_log(worker)
    marker = tmp_path / "started"
    running = extra.sleeper.delay(300, str(marker))
    assert wait_until(marker.exists, timeout=20)
    waiting = proj.add.delay(1, 1)

    def one_running_one_waiting() -> bool:
        samples = _scrape(url)
        return (
            _gauge(samples, "celeriac_worker_active_tasks") == 1.0
            and _gauge(samples, "celeriac_worker_prefetched_tasks") == 1.0
        )

    assert wait_until(one_running_one_waiting, timeout=10), _scrape(url)
    running.revoke(terminate=True)
    assert waiting.get(timeout=20) == 2
    revoked = ("proj.extra.sleeper", "REVOKED")
    assert wait_until(lambda: _tasks(_scrape(url)).get(revoked) == 1.0, timeout=10)
    samples = _scrape(url)
    assert _tasks(samples)[("proj.tasks.add", "SUCCESS")] == 1.0
    assert ("proj.extra.sleeper", "SUCCESS") not in _tasks(samples)
    assert _gauge(samples, "celeriac_worker_active_tasks") == 0.0


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_taken_port_stops_the_worker_with_one_line(
    proj: ModuleType, project_dir: Path, taken_port: int
) -> None:
    done = run_celeriac(project_dir, "-A", "proj", "worker", "--metrics-port", str(taken_port))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"Error: cannot serve metrics on 127.0.0.1:{taken_port}: Address already in use"
    ], done.stderr
    assert done.stdout == ""  # nothing started: not even the banner


def test_a_bad_port_is_refused(proj: ModuleType, project_dir: Path) -> None:
    done = run_celeriac(project_dir, "-A", "proj", "worker", "--metrics-port", "70000")
    assert done.returncode == 2
    assert "Invalid value for '--metrics-port': 70000 is not in the range" in done.stderr
    (project_dir / "badmetrics.py").write_text("worker_metrics_port = 123456\n")
    done = run_celeriac(project_dir, "-A", "proj", "--config", "badmetrics", "worker")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: worker_metrics_port must be a port number from 0 to 65535, not 123456"
    ]


def test_the_setting_turns_it_on(proj: ModuleType, project_dir: Path, start_worker: Any) -> None:
    (project_dir / "metricsconf.py").write_text(
        "worker_metrics_port = 0\nworker_metrics_address = '127.0.0.1'\n"
    )
    worker = start_worker("-P", "threads", global_args=["--config", "metricsconf"])
    url = _url_in_log(worker)
    assert url.startswith("http://127.0.0.1:")
    assert proj.add.delay(20, 22).get(timeout=20) == 42
    done = ("proj.tasks.add", "SUCCESS")
    assert wait_until(lambda: _tasks(_scrape(url)).get(done) == 1.0, timeout=10)


def test_help_lists_the_options(project_dir: Path) -> None:
    done = run_celeriac(project_dir, "worker", "--help")
    assert "--metrics-port PORT" in done.stdout
    assert "--metrics-address ADDRESS" in done.stdout
