"""The dashboard's HTTP API and /metrics over a real socket (no browser).

The cluster is the memory broker and backend, a fake node answering remote control, and
events published through the real dispatcher.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from celeriac import Celery
from celeriac.brokers.memory import MemoryBroker
from celeriac.dashboard import Dashboard, DashboardOptions
from celeriac.dashboard.server import DashboardServer
from tests.e2e.wait import wait_until
from tests.unit.dashboard.fakes import EventScript, FakeNode


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Cluster:
    app: Celery
    server: DashboardServer
    node: FakeNode
    events: EventScript

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        all_headers = {"Content-Type": "application/json"} if body is not None else {}
        all_headers.update(headers or {})
        request = urllib.request.Request(
            self.server.url + path.lstrip("/"), data, all_headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, exc.headers, exc.read())

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, {} if body is None else body, **kwargs)


def start_cluster(options: DashboardOptions) -> Iterator[Cluster]:
    name = f"dash-{uuid.uuid4().hex}"
    app = Celery("proj", broker=f"memory://{name}", backend="cache+memory://", set_as_current=False)
    app.conf.result_extended = True
    server = DashboardServer(Dashboard(app, options))
    server.start()
    node = FakeNode(app, "celery@fake", queues=("celery", "hipri"))
    try:
        assert server.dashboard.monitor.wait_ready(10)
        with node.running():
            yield Cluster(app, server, node, EventScript(app, "celery@fake"))
    finally:
        server.stop()
        MemoryBroker.reset(name)
        app.close()


FAST = {
    "address": "127.0.0.1",
    "port": 0,
    "inspect_interval": 0.5,
    "inspect_timeout": 0.3,
    "queue_interval": 0.2,
    "control_timeout": 0.5,
}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    yield from start_cluster(DashboardOptions(**FAST))


def test_index_static_and_health(cluster: Cluster) -> None:
    page = cluster.get("/")
    assert page.status == 200 and b'<main id="view"' in page.body
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    script = cluster.get("/static/js/main.js")
    assert script.status == 200 and "javascript" in script.headers["Content-Type"]
    assert cluster.get("/healthz").body == b"ok"


def test_tasks_list_filters_and_detail(cluster: Cluster) -> None:
    ok = cluster.events.task("proj.add", args="(1, 2)", result="3")
    bad = cluster.events.task("proj.fail", outcome="failed")
    assert wait_until(lambda: cluster.get("/api/tasks").json()["total"] == 2)
    failed = cluster.get("/api/tasks?state=FAILURE").json()
    assert [t["uuid"] for t in failed["tasks"]] == [bad]
    assert cluster.get(f"/api/tasks?search={ok[:8]}").json()["tasks"][0]["name"] == "proj.add"
    assert cluster.get("/api/tasks?limit=x").status == 400
    detail = cluster.get(f"/api/tasks/{bad}").json()
    assert detail["state"] == "FAILURE" and "ValueError: boom" in detail["traceback"]
    assert [e["type"] for e in detail["events"]] == ["task-received", "task-started", "task-failed"]
    missing = cluster.get(f"/api/tasks/{uuid.uuid4()}")
    assert missing.status == 404 and "no task" in missing.json()["error"]


def test_overview_workers_and_queues(cluster: Cluster) -> None:
    cluster.events.heartbeat("worker-online", processed=7)
    cluster.events.task("proj.add", runtime=0.25)
    cluster.app.send_task("proj.add", (1, 1), queue="hipri")

    def ready() -> bool:
        workers = cluster.get("/api/workers").json()["workers"]
        return bool(workers) and workers[0]["pool"]["concurrency"] == 4

    assert wait_until(ready)
    [worker] = cluster.get("/api/workers").json()["workers"]
    assert worker["hostname"] == "celery@fake" and worker["online"]
    assert worker["pool"]["implementation"] == "threads" and worker["queues"] == ["celery", "hipri"]
    assert worker["processed"] == 7
    overview = cluster.get("/api/overview").json()
    assert overview["workers"] == {"online": 1, "total": 1}
    assert overview["totals"]["succeeded"] == 1
    assert overview["types"][0]["name"] == "proj.add" and overview["types"][0]["p50"] == 0.25
    assert any(p["p50"] == 0.25 for p in overview["series"])

    def hipri_length() -> Any:
        queues = {q["name"]: q for q in cluster.get("/api/queues").json()["queues"]}
        return queues.get("hipri", {}).get("length")

    assert wait_until(lambda: hipri_length() == 1)
    queues = {q["name"]: q for q in cluster.get("/api/queues").json()["queues"]}
    assert queues["hipri"]["consumers"] == ["celery@fake"]
    assert queues["celeriac.dead_letter"]["dead_letter"]
    assert "proj.mul" in cluster.get("/api/task-names").json()["names"]


def test_metrics_endpoint(cluster: Cluster) -> None:
    cluster.events.heartbeat("worker-online")
    cluster.events.task("proj.add", runtime=0.05)
    assert wait_until(lambda: "celeriac_tasks_total{" in cluster.get("/metrics").body.decode())
    reply = cluster.get("/metrics")
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    parsed = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    states = {s.labels["state"] for s in parsed["celeriac_tasks"].samples}
    assert states == {"RECEIVED", "STARTED", "SUCCESS"}
    assert parsed["celeriac_workers_online"].samples[0].value == 1.0
    assert {s.labels["queue"] for s in parsed["celeriac_queue_length"].samples} >= {"celery"}
    assert "celeriac_task_runtime_seconds" in parsed


def test_send_retry_and_revoke(cluster: Cluster) -> None:
    sent = cluster.post(
        "/api/tasks/send", {"name": "proj.add", "args": [2, 3], "kwargs": {}, "queue": "hipri"}
    )
    assert sent.status == 200
    task_id = sent.json()["task_id"]
    listed = cluster.get(f"/api/tasks/{task_id}").json()
    assert (
        listed["name"] == "proj.add" and listed["args"] == "(2, 3)" and listed["queue"] == "hipri"
    )
    assert cluster.app.broker.size("hipri") == 1
    retried = cluster.post(f"/api/tasks/{task_id}/retry").json()
    assert retried["task_id"] != task_id and retried["name"] == "proj.add"
    assert cluster.app.broker.size("hipri") == 2
    revoked = cluster.post(
        f"/api/tasks/{task_id}/revoke", {"terminate": True, "signal": "KILL"}
    ).json()
    assert revoked["replies"] == {"celery@fake": {"ok": f"tasks {[task_id]} flagged as revoked"}}
    assert cluster.node.wait_for("revoke") == {
        "task_id": [task_id],
        "terminate": True,
        "signal": "SIGKILL",
    }
    assert task_id in cluster.app.control.mailbox.load_revoked()


def test_retry_needs_known_arguments(cluster: Cluster) -> None:
    clipped = cluster.events.task("proj.add", args="('aaaa...',", outcome="failed")
    assert wait_until(lambda: cluster.get(f"/api/tasks/{clipped}").status == 200)
    reply = cluster.post(f"/api/tasks/{clipped}/retry")
    assert reply.status == 400 and "result_extended" in reply.json()["error"]
    assert cluster.post(f"/api/tasks/{uuid.uuid4()}/retry").status == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"args": []}, "task name"),
        ({"name": "t", "args": {"a": 1}}, "args must be a JSON list"),
        ({"name": "t", "kwargs": [1]}, "kwargs must be a JSON object"),
        ({"name": "t", "countdown": "soon"}, "countdown"),
    ],
)
def test_send_rejects_bad_input(cluster: Cluster, body: dict[str, Any], message: str) -> None:
    reply = cluster.post("/api/tasks/send", body)
    assert reply.status == 400 and message in reply.json()["error"]


def test_pool_and_rate_limit_reach_the_worker(cluster: Cluster) -> None:
    grown = cluster.post("/api/workers/celery@fake/pool", {"action": "grow", "n": 2}).json()
    assert grown["replies"] == {"celery@fake": {"ok": "pool will grow to 6"}}
    assert cluster.node.wait_for("pool_grow") == {"n": 2}
    assert cluster.post("/api/workers/celery@fake/pool", {"action": "explode"}).status == 400
    assert cluster.post("/api/workers/celery@fake/pool", {"action": "grow", "n": 0}).status == 400
    limited = cluster.post(
        "/api/rate-limit", {"task_name": "proj.add", "rate_limit": "10/m", "worker": "celery@fake"}
    )
    assert limited.json()["rate_limit"] == "10/m"
    assert cluster.node.wait_for("rate_limit") == {"task_name": "proj.add", "rate_limit": "10/m"}
    assert (
        cluster.post("/api/rate-limit", {"task_name": "proj.add", "rate_limit": "fast"}).status
        == 400
    )
    cleared = cluster.post("/api/rate-limit", {"task_name": "proj.add", "rate_limit": ""}).json()
    assert cleared["rate_limit"] is None


def test_posts_must_be_same_site_json(cluster: Cluster) -> None:
    form = cluster.call(
        "POST", "/api/tasks/send", b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status == 415
    foreign = cluster.post(
        "/api/tasks/send", {"name": "x"}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status == 403
    assert cluster.post("/api/tasks/send", b"[1]").status == 400
    assert cluster.post("/api/tasks/send", b"{nope").status == 400


def test_stream_sends_ticks_and_changed_tasks(cluster: Cluster) -> None:
    url = cluster.server.url + "api/stream"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        seen: list[str] = []

        def next_event() -> tuple[str, Any]:
            kind = ""
            while True:
                line = response.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[len("event: ") :]
                elif line.startswith("data: "):
                    seen.append(kind)
                    return kind, json.loads(line[len("data: ") :])

        kind, tick = next_event()
        assert kind == "tick" and "worker_rows" in tick and "series" in tick
        task_id = cluster.events.task("proj.add")
        for _ in range(20):
            kind, data = next_event()
            if kind == "tasks" and any(
                t["uuid"] == task_id and t["state"] == "SUCCESS" for t in data["tasks"]
            ):
                break
        else:
            raise AssertionError(f"no task update in {seen}")


@pytest.fixture
def guarded() -> Iterator[Cluster]:
    yield from start_cluster(DashboardOptions(**FAST, basic_auth=("ann:secret",), token="t0k"))


def test_credentials(guarded: Cluster) -> None:
    assert guarded.get("/api/overview").status == 401
    assert "Basic" in guarded.get("/").headers["WWW-Authenticate"]
    assert guarded.get("/healthz").status == 200
    good = base64.b64encode(b"ann:secret").decode()
    bad = base64.b64encode(b"ann:wrong").decode()
    assert guarded.get("/api/overview", headers={"Authorization": f"Basic {good}"}).status == 200
    assert guarded.get("/api/overview", headers={"Authorization": f"Basic {bad}"}).status == 401
    assert guarded.get("/api/overview", headers={"Authorization": "Basic !!"}).status == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer t0k"}).status == 200
    first = guarded.get("/?token=t0k")
    assert first.status == 200
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith("celeriac_token=t0k") and "HttpOnly" in cookie
    assert guarded.get("/api/overview", headers={"Cookie": "celeriac_token=t0k"}).status == 200
    assert guarded.get("/api/overview", headers={"Cookie": "celeriac_token=nope"}).status == 401
