"""``-P gevent`` and ``-P eventlet`` in real worker processes (patched by the command line)."""

from __future__ import annotations

import importlib
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac.exceptions import TaskRevokedError, TimeLimitExceeded
from tests.e2e.conftest import run_celeriac
from tests.e2e.test_worker_tuning import measured_rate
from tests.e2e.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("pool", ["gevent", "eventlet"])]

GREEN_TASKS = Path(__file__).with_name("green_tasks.py")

#: The project's own SQLite broker, or RabbitMQ with rpc:// results.
BROKERS = pytest.mark.parametrize(
    "broker", ["sqlite", pytest.param("amqp", marks=pytest.mark.amqp)]
)


@pytest.fixture
def broker() -> str:
    return "sqlite"


@pytest.fixture
def tasks(
    project_dir: Path, broker: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    shutil.copy(GREEN_TASKS, project_dir / "proj" / "greentasks.py")
    queue = None
    if broker == "amqp":
        amqp_url = request.getfixturevalue("amqp_url")
        monkeypatch.setenv("CELERIAC_BROKER_URL", amqp_url)
        monkeypatch.setenv("CELERIAC_RESULT_BACKEND", "rpc://")
        # A queue of the test's own: other runs on the same RabbitMQ never take its messages.
        queue = f"green.{uuid.uuid4().hex[:12]}"
        with (project_dir / "proj" / "celeriac.py").open("a") as config:
            config.write(f"\napp.conf.task_default_queue = {queue!r}\n")
    yield importlib.import_module("proj.greentasks")
    if queue is not None:
        from celeriac.brokers.amqp import AmqpBroker

        admin = AmqpBroker.from_url(request.getfixturevalue("amqp_url"), transport_options={})
        admin.open()
        admin.delete_queue(queue)
        admin.close()


def start(start_worker: Any, pool: str, *args: str) -> Any:
    return start_worker("-I", "proj.greentasks", "-P", pool, *args)


@BROKERS
def test_fifty_sleeping_tasks_run_at_the_same_time(
    pool: str, tasks: ModuleType, start_worker: Any
) -> None:
    # Published before the worker starts, so it takes all fifty at once.
    results = [tasks.nap.delay(0.2) for _ in range(50)]
    worker = start(start_worker, pool, "-c", "50")
    assert f"({pool})" in worker.output
    spans = [r.get(timeout=30) for r in results]
    # Every task started before any ended: the fifty sleeps overlapped.
    assert max(started for started, _ in spans) < min(ended for _, ended in spans)
    assert worker.stop() == 0


@BROKERS
def test_time_limits(pool: str, tasks: ModuleType, start_worker: Any, project_dir: Path) -> None:
    start(start_worker, pool, "-c", "10")
    marker = project_dir / "soft"
    result = tasks.soft_limited.apply_async((str(marker),), soft_time_limit=0.2)
    assert result.get(timeout=10) == "cleaned up"
    with pytest.raises(TimeLimitExceeded):
        tasks.too_slow.delay().get(timeout=10)
    started, ended = tasks.nap.delay(0).get(timeout=10)  # the worker goes on serving
    assert started <= ended


@BROKERS
def test_revoke_terminate_kills_the_greenlet(
    pool: str, tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start(start_worker, pool, "-c", "10")
    marker = project_dir / "forever"
    result = tasks.forever.delay(str(marker))
    assert wait_until(marker.exists)
    result.revoke(terminate=True)
    with pytest.raises(TaskRevokedError):
        result.get(timeout=10)
    assert tasks.nap.delay(0).get(timeout=10)


@BROKERS
def test_warm_shutdown_finishes_the_running_task(
    pool: str, tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, pool, "-c", "10")
    marker = project_dir / "running"
    result = tasks.finishes.delay(str(marker), 0.5)
    assert wait_until(marker.exists)
    assert worker.stop(signal.SIGTERM) == 0
    assert result.get(timeout=10) == "finished"


def test_cold_shutdown_stops_at_once_and_keeps_a_late_ack_message(
    pool: str, tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, pool, "-c", "10")
    marker = project_dir / "forever"
    result = tasks.forever_late.delay(str(marker))
    assert wait_until(marker.exists)
    worker.stop(signal.SIGQUIT)
    assert "Cold shutdown" in worker.output
    marker.unlink()
    start(start_worker, pool, "-c", "10")  # the message was returned: it runs again
    assert wait_until(marker.exists)
    assert result.state in ("PENDING", "STARTED")


def test_rate_limit_holds_the_measured_rate(
    pool: str, tasks: ModuleType, extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    start(start_worker, pool, "-c", "4", "--prefetch-multiplier", "16", "-I", "proj.extra")
    stamps = project_dir / "stamps"
    for result in [extra.stamp.delay(str(stamps)) for _ in range(11)]:  # rate_limit='5/s'
        result.get(timeout=20)
    assert measured_rate(stamps) == pytest.approx(5.0, rel=0.2)


def test_prefetch_holds_no_more_than_the_pool_runs(
    pool: str, tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    worker = start(start_worker, pool, "-c", "2", "--prefetch-multiplier", "1")
    markers = [project_dir / f"forever-{index}" for index in range(4)]
    for marker in markers:
        tasks.forever.delay(str(marker))
    assert wait_until(lambda: sum(m.exists() for m in markers) == 2)
    # Two run, and the other two wait in the broker, not in the worker.
    assert wait_until(lambda: tasks.app.broker.size("celery") == 2)
    assert sum(m.exists() for m in markers) == 2
    worker.stop(signal.SIGQUIT)


@pytest.mark.amqp
@pytest.mark.parametrize("broker", ["amqp"])
def test_rpc_round_trip_and_inspect_ping_on_rabbitmq(
    pool: str, tasks: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    node = f"green-{uuid.uuid4().hex[:8]}@test"
    worker = start(start_worker, pool, "-c", "10", "-n", node)
    assert "amqp://" in worker.output and "rpc://" in worker.output
    started, ended = tasks.nap.delay(0.01).get(timeout=10)
    assert started <= ended
    assert importlib.import_module("proj.tasks").add.delay(2, 3).get(timeout=10) == 5
    ping = run_celeriac(project_dir, "-A", "proj", "inspect", "ping", "-d", node)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert f"->  {node}: OK" in ping.stdout and "pong" in ping.stdout
    assert worker.stop() == 0
    assert "Traceback" not in worker.output


def test_the_celeriac_script_patches_before_importing(pool: str, tmp_path: Path) -> None:
    check = {
        "gevent": "from gevent import monkey; print(monkey.is_module_patched('socket'))",
        "eventlet": "from eventlet import patcher; print(patcher.is_monkey_patched('socket'))",
    }[pool]
    script = Path(sys.executable).with_name("celeriac")
    program = "import sys; sys.argv = [{argv0!r}, 'worker', '-P', {pool!r}]; import celeriac; "
    outputs = []
    for argv0 in (str(script), str(tmp_path / "other-program")):
        run = subprocess.run(
            [sys.executable, "-c", program.format(argv0=argv0, pool=pool) + check],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outputs.append(run.stdout.strip())
    assert outputs == ["True", "False"]  # only celeriac's own entry points patch
