"""The dashboard in a real headless Chromium: every page clicked through and checked.

The cluster: the memory broker and backend, a real in-thread worker running the tasks
the dashboard sends, a fake node answering remote control (pool, rate limit, revoke),
and events published through the real dispatcher. Each page's screenshot is saved under
``tests/artifacts/dashboard/``.

The browser is Debian's ``chromium`` driven by Playwright (never a downloaded browser):
without it these tests are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker
from celeriac.dashboard import Dashboard, DashboardOptions
from celeriac.dashboard.server import DashboardServer
from celeriac.testing.worker import start_worker
from tests.e2e.wait import wait_until
from tests.unit.dashboard.fakes import EventScript, FakeNode

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000
NODE = "celery@fake"


def _browser_missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser must be installed)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A Chromium context with a fresh profile."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _browser_missing(f"playwright is not installed: {exc}")
    if not CHROMIUM.exists():
        _browser_missing(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    import tempfile

    with (
        tempfile.TemporaryDirectory(prefix="celeriac-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Site:
    app: Celery
    server: DashboardServer
    node: FakeNode
    events: EventScript
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def _seed(events: EventScript, ids: dict[str, str]) -> None:
    """A worker's heartbeat and a history: successes, failures, a chain, running tasks."""
    events.heartbeat("worker-online", processed=12)
    for i in range(12):
        events.task("tests.add", args=f"({i}, {i})", result=str(2 * i), runtime=0.002 * (i + 1))
    ids["failed"] = events.task("tests.fail", args="('x',)", outcome="failed")
    root = ids["root"] = events.task("tests.add", args="(2, 2)", result="4")
    mid = ids["mid"] = events.task(
        "tests.mul", args="(4, 10)", result="40", parent_id=root, root_id=root
    )
    ids["leaf"] = events.task(
        "tests.fail", args="(40,)", outcome="failed", parent_id=mid, root_id=root
    )
    ids["running"] = events.task("tests.slow", args="(60,)", outcome="started")
    ids["running2"] = events.task("tests.slow", args="(61,)", outcome="started")


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    name = f"dash-browser-{uuid.uuid4().hex}"
    app = Celery(
        "tests", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False
    )
    app.conf.result_extended = True
    app.conf.worker_send_task_events = True  # the real worker's events reach the pages too

    @app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="tests.fail")
    def fail(value: Any) -> None:
        raise ValueError(f"cannot use {value!r}")

    options = DashboardOptions(
        address="127.0.0.1",
        port=0,
        inspect_interval=1.0,
        inspect_timeout=0.3,
        queue_interval=0.3,
        control_timeout=0.5,
    )
    server = DashboardServer(Dashboard(app, options))
    server.start()
    node = FakeNode(app, NODE, queues=("celery", "hipri"))
    try:
        assert server.dashboard.monitor.wait_ready(10)
        with node.running(), start_worker(app, concurrency=2):
            site = Site(app, server, node, EventScript(app, NODE))
            _seed(site.events, site.ids)
            for i in range(3):
                app.send_task("tests.add", (i, i), queue="hipri")  # nobody really consumes hipri
            yield site
    finally:
        server.stop()
        MemoryBroker.reset(name)
        app.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new tab; the test fails if the page throws or logs an error."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    yield tab
    tab.close()
    assert errors == []


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_overview_shows_counts_charts_and_task_types(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url)
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#kpi-workers .value")).to_have_text(re.compile(r"^[1-9]"))
    expect(page.locator("#kpi-succeeded .value")).to_have_text(re.compile(r"^(1[4-9]|[2-9]\d)"))
    expect(page.locator("#kpi-failed .value")).to_have_text(re.compile(r"^[2-9]"))
    expect(page.locator("#task-types tbody tr").first).to_contain_text("tests.add")
    expect(page.locator("#recent-failures tbody tr").first).to_contain_text("tests.fail")
    expect(page.locator("#chart-throughput path.line-succeeded")).to_have_count(1)
    expect(
        page.locator("#chart-runtime svg circle, #chart-runtime path.line-p50").first
    ).to_be_visible()
    expect(page.locator("#nav-queued")).to_have_text(re.compile(r"^[1-9]"))
    shot(page, "overview")
    page.locator("#kpi-failed").click()
    expect(page).to_have_url(re.compile(r"#/tasks\?state=FAILURE$"))


def test_workers_page_grows_a_pool_and_sets_a_rate_limit(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "#/workers")
    row = page.locator(f'tr[data-worker="{NODE}"]')
    expect(row).to_contain_text("Online")
    expect(row).to_contain_text("threads \u00d7 4")
    expect(row).to_contain_text("hipri")
    shot(page, "workers")
    row.get_by_role("button", name=f"Grow pool of {NODE}").click()
    assert site.node.wait_for("pool_grow") == {"n": 1}
    expect(page.locator(".toast").last).to_contain_text("pool will grow to 5")
    page.locator("#workers-refresh").click()
    expect(row).to_contain_text("threads \u00d7 5")
    row.get_by_role("button", name="Rate limit…").click()
    page.locator("#modal input[name=task_name]").fill("tests.add")
    page.locator("#modal input[name=rate_limit]").fill("10/m")
    page.locator("#modal").get_by_role("button", name="Apply").click()
    assert site.node.wait_for("rate_limit") == {"task_name": "tests.add", "rate_limit": "10/m"}
    expect(page.locator(".toast").last).to_contain_text("Rate limit of tests.add set to 10/m")


def test_tasks_page_filters_searches_and_updates_live(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "#/tasks")
    rows = page.locator("#tasks-table tbody tr")
    expect(page.locator(f'tr[data-uuid="{site.ids["root"]}"]')).to_be_visible()
    shot(page, "tasks")
    page.locator("#task-filters select[name=state]").select_option("FAILURE")
    expect(page.locator(f'tr[data-uuid="{site.ids["leaf"]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-uuid="{site.ids["failed"]}"]')).to_be_visible()
    expect(page.locator('#tasks-table tbody tr:not([data-state="FAILURE"])')).to_have_count(0)
    shot(page, "tasks-failed")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#task-filters select[name=state]")).to_have_value("")
    page.locator("#task-filters input[name=search]").fill(site.ids["mid"][:13])
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("tests.mul")
    page.get_by_role("button", name="Clear").click()
    page.locator("#task-filters select[name=name]").select_option("tests.slow")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Clear").click()
    expect(page.locator(f'tr[data-uuid="{site.ids["root"]}"]')).to_be_visible()
    fresh = site.events.task("tests.live", args="('pushed',)")
    expect(page.locator(f'tr[data-uuid="{fresh}"]')).to_contain_text("tests.live")
    expect(page.locator(f'tr[data-uuid="{fresh}"]')).to_have_attribute("data-state", "SUCCESS")
    page.locator(f'tr[data-uuid="{fresh}"]').click()
    expect(page.locator("#task-name")).to_have_text("tests.live")


def test_task_page_shows_traceback_timeline_and_workflow(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + f"#/task/{site.ids['leaf']}")
    expect(page.locator("#task-name")).to_have_text("tests.fail")
    expect(page.locator("#task-state")).to_have_text("FAILURE")
    expect(page.locator("#task-traceback")).to_contain_text("ValueError: boom")
    expect(page.locator("#task-timeline li")).to_have_count(3)
    expect(page.locator("#task-timeline li").last).to_contain_text("failed")
    expect(page.locator("#task-graph g.node")).to_have_count(3)
    expect(page.locator("#task-graph g.node.current")).to_have_attribute(
        "data-id", site.ids["leaf"]
    )
    expect(page.locator("#task-graph path.edge")).to_have_count(2)
    expect(page.locator("#task-revoke")).to_be_disabled()
    shot(page, "task")
    page.locator(f'#task-graph g.node[data-id="{site.ids["root"]}"]').click()
    expect(page.locator("#task-name")).to_have_text("tests.add")
    expect(page.locator("#task-result")).to_contain_text("4")
    expect(page.locator("#task-fields")).to_contain_text(site.ids["mid"][:8])


def _new_task_page(page: Any, before: str) -> str:
    """The id of the task page the browser moves to from ``before``."""
    page.wait_for_url(lambda url: url != before and re.search(r"#/task/[0-9a-f-]{36}$", url))
    return str(page.url.rsplit("/", 1)[-1])


def _sent_task(page: Any, name: str, args: str) -> str:
    before = page.url
    page.locator("#send-open").click()
    page.locator("#modal input[name=name]").fill(name)
    page.locator("#modal textarea[name=args]").fill(args)
    page.locator("#modal").get_by_role("button", name="Send").click()
    return _new_task_page(page, before)


def test_send_runs_on_the_worker_and_retry_sends_again(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url)
    page.locator("#send-open").click()
    page.locator("#modal textarea[name=args]").fill("[1,")
    page.locator("#modal input[name=name]").fill("tests.add")
    page.locator("#modal").get_by_role("button", name="Send").click()
    expect(page.locator("#modal .error")).to_contain_text("Args")
    page.locator("#modal").get_by_role("button", name="Cancel").click()

    added = _sent_task(page, "tests.add", "[2, 3]")
    expect(page.locator("#task-state")).to_have_text("SUCCESS")
    expect(page.locator("#task-result pre")).to_have_text("5")
    expect(page.locator('#task-timeline li[data-type="task-succeeded"]')).to_contain_text(
        "celery@test-worker"
    )
    shot(page, "task-sent")

    failed = _sent_task(page, "tests.fail", '["x"]')
    expect(page.locator("#task-state")).to_have_text("FAILURE")
    expect(page.locator("#task-traceback")).to_contain_text("cannot use 'x'")
    before = page.url
    page.locator("#task-retry").click()
    retried = _new_task_page(page, before)
    expect(page.locator("#task-state")).to_have_text("FAILURE")
    meta = site.app.backend.get_task_meta(retried)
    assert meta["args"] == ["x"] and meta["name"] == "tests.fail"
    assert len({added, failed, retried}) == 3


def _revoked(site: Site, task_id: str) -> dict[str, Any] | None:
    for method, arguments in list(site.node.commands):
        if method == "revoke" and arguments["task_id"] == [task_id]:
            return arguments
    return None


def test_revoke_and_terminate_reach_the_workers(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + f"#/task/{site.ids['running']}")
    expect(page.locator("#task-state")).to_have_text("STARTED")
    page.locator("#task-revoke").click()
    page.locator("#modal").get_by_role("button", name="Revoke").click()
    expect(page.locator(".toast").last).to_contain_text("Revoked")
    assert wait_until(lambda: _revoked(site, site.ids["running"]) is not None)
    assert _revoked(site, site.ids["running"]) == {
        "task_id": [site.ids["running"]],
        "terminate": False,
        "signal": "SIGTERM",
    }

    page.goto(site.url + f"#/task/{site.ids['running2']}")
    page.locator("#task-terminate").click()
    page.locator("#modal select[name=signal]").select_option("SIGKILL")
    shot(page, "task-terminate")
    page.locator("#modal").get_by_role("button", name="Terminate").click()
    expect(page.locator(".toast").last).to_contain_text("Terminated")
    assert wait_until(lambda: _revoked(site, site.ids["running2"]) is not None)
    assert _revoked(site, site.ids["running2"]) == {
        "task_id": [site.ids["running2"]],
        "terminate": True,
        "signal": "SIGKILL",
    }
    revoked = site.app.control.mailbox.load_revoked()
    assert site.ids["running"] in revoked and site.ids["running2"] in revoked


def test_queues_page_shows_lengths_and_consumers(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "#/queues")
    hipri = page.locator('tr[data-queue="hipri"]')
    expect(hipri.locator(".length")).to_have_text("3")
    expect(hipri).to_contain_text(NODE)
    expect(page.locator('tr[data-queue="celeriac.dead_letter"]')).to_contain_text("dead letters")
    shot(page, "queues")


def test_history_comes_from_the_result_backend(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    old = str(uuid.uuid4())
    site.app.backend.mark_as_done(old, {"answer": 42})
    page.goto(site.url)
    page.locator("#goto-id").fill(old)
    page.locator("#goto-id").press("Enter")
    expect(page.locator("#task-state")).to_have_text("SUCCESS")
    expect(page.locator("#task-result pre")).to_have_text("{'answer': 42}")
    expect(page.get_by_text("result backend", exact=True)).to_be_visible()
    expect(page.locator("#task-timeline")).to_contain_text("No events seen")
    shot(page, "task-history")
    page.goto(site.url + f"#/task/{uuid.uuid4()}")
    expect(page.locator("#task-missing")).to_contain_text("No task")


def test_token_is_kept_in_a_cookie_for_the_live_stream(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    options = DashboardOptions(address="127.0.0.1", port=0, token="s3cret", inspect_interval=5.0)
    server = DashboardServer(Dashboard(site.app, options))
    server.start()
    tab = browser.new_page()
    try:
        assert tab.goto(server.url).status == 401
        tab.goto(server.url + "?token=s3cret#/workers")
        expect(tab.locator("#live")).to_have_text("live")
        expect(tab.locator("h1")).to_have_text("Workers")
        assert tab.goto(server.url + "api/overview").status == 200
    finally:
        tab.close()
        server.stop()
