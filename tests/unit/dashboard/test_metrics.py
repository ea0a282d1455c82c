"""The Prometheus text, checked line by line and by Prometheus' own parser."""

from __future__ import annotations

import math
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from celeriac.metrics import (
    CONTENT_TYPE,
    Counter,
    Gauge,
    Histogram,
    MetricsServer,
    Registry,
    TaskMetrics,
    format_value,
)


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    parsed = {}
    for family in text_string_to_metric_families(text):
        parsed[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return parsed


def test_counter_text_and_label_escaping() -> None:
    counter = Counter("celeriac_x_total", "Things.\nSecond line \\ too.", ("name",))
    counter.inc(name='say "hi"\n\\')
    counter.inc(2, name="b")
    assert counter.render() == (
        "# HELP celeriac_x_total Things.\\nSecond line \\\\ too.\n"
        "# TYPE celeriac_x_total counter\n"
        'celeriac_x_total{name="b"} 2.0\n'
        'celeriac_x_total{name="say \\"hi\\"\\n\\\\"} 1.0\n'
    )
    samples = families(counter.render())["celeriac_x"]
    assert {s[1]["name"]: s[2] for s in samples} == {"b": 2.0, 'say "hi"\n\\': 1.0}


def test_counters_only_go_up_and_labels_must_match() -> None:
    counter = Counter("c_total", "c", ("a",))
    with pytest.raises(ValueError, match="only go up"):
        counter.inc(-1, a="x")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(b="x")
    assert counter.value(a="never") == 0.0


def test_gauge_set_inc_replace() -> None:
    gauge = Gauge("g", "g", ("q",))
    gauge.set(3, q="a")
    gauge.inc(-1, q="a")
    assert gauge.value(q="a") == 2.0
    gauge.replace({("b",): 7.0})
    assert gauge.render().splitlines()[2:] == ['g{q="b"} 7.0']
    with pytest.raises(ValueError):
        gauge.replace({("a", "b"): 1.0})


def test_unlabelled_gauge_has_no_braces() -> None:
    gauge = Gauge("celeriac_workers_online", "Workers online.")
    gauge.set(2)
    assert gauge.render().splitlines()[-1] == "celeriac_workers_online 2.0"


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    histogram = Histogram("h_seconds", "h", ("name",), buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 0.7, 3.0):
        histogram.observe(value, name="t")
    lines = histogram.render().splitlines()[2:]
    assert lines == [
        'h_seconds_bucket{name="t",le="0.1"} 1.0',
        'h_seconds_bucket{name="t",le="1.0"} 3.0',
        'h_seconds_bucket{name="t",le="+Inf"} 4.0',
        'h_seconds_sum{name="t"} 4.25',
        'h_seconds_count{name="t"} 4.0',
    ]
    assert histogram.count(name="t") == 4
    parsed = families(histogram.render())["h_seconds"]
    assert ("h_seconds_count", {"name": "t"}, 4.0) in parsed


def test_histogram_refuses_le_label() -> None:
    with pytest.raises(ValueError, match="reserved"):
        Histogram("h", "h", ("le",))


def test_format_value_special_floats() -> None:
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"
    assert format_value(3) == "3.0"


def test_registry_refuses_duplicates_and_survives_a_failing_collector(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry()
    gauge = Gauge("g", "g")
    registry.register(gauge)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Gauge("g", "again"))

    def broken() -> None:
        raise RuntimeError("source down")

    registry.add_collector(broken)
    registry.add_collector(lambda: gauge.set(5))
    assert "g 5.0" in registry.render()
    assert "source down" in caplog.text


def test_task_metrics_from_events() -> None:
    metrics = TaskMetrics()
    metrics.observe_event(
        {"type": "task-received", "uuid": "1", "name": "proj.add", "hostname": "w1"}
    )
    metrics.observe_event(
        {"type": "task-succeeded", "uuid": "1", "hostname": "w1", "runtime": 0.2}, "proj.add"
    )
    metrics.observe_event({"type": "task-failed", "uuid": "2", "hostname": "w1"})
    metrics.observe_event({"type": "worker-heartbeat", "hostname": "w1"})
    metrics.set_workers({"w1": True, "w2": False})
    metrics.set_worker_tasks({"w1": 2}, {"w1": 1})
    metrics.set_queue_lengths({"celery": 4})
    parsed = families(metrics.render())
    tasks = {(s[1]["name"], s[1]["state"]): s[2] for s in parsed["celeriac_tasks"]}
    assert tasks == {
        ("proj.add", "RECEIVED"): 1.0,
        ("proj.add", "SUCCESS"): 1.0,
        ("unknown", "FAILURE"): 1.0,
    }
    runtime = {s[0]: s[2] for s in parsed["celeriac_task_runtime_seconds"] if "le" not in s[1]}
    assert runtime == {
        "celeriac_task_runtime_seconds_count": 1.0,
        "celeriac_task_runtime_seconds_sum": 0.2,
    }
    assert parsed["celeriac_workers_online"][0][2] == 1.0
    assert {s[1]["worker"]: s[2] for s in parsed["celeriac_worker_online"]} == {
        "w1": 1.0,
        "w2": 0.0,
    }
    assert parsed["celeriac_queue_length"] == [("celeriac_queue_length", {"queue": "celery"}, 4.0)]
    assert parsed["celeriac_worker_prefetched_tasks"][0][2] == 2.0
    assert parsed["celeriac_worker_active_tasks"][0][2] == 1.0


def test_metrics_server_serves_metrics_only() -> None:
    metrics = TaskMetrics()
    metrics.task_state("SUCCESS", "proj.add", "w1", runtime=0.5)
    server = MetricsServer(metrics.registry, port=0, address="127.0.0.1")
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"] == CONTENT_TYPE
            text = response.read().decode()
        assert 'celeriac_tasks_total{name="proj.add",state="SUCCESS",worker="w1"} 1.0' in text
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/other", timeout=5)
        assert info.value.code == 404
        info.value.close()
    finally:
        server.stop()


def test_metrics_server_binds_on_open_and_serves_on_start() -> None:
    server = MetricsServer(TaskMetrics().registry, port=0, address="127.0.0.1")
    server.open()
    try:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        taken = MetricsServer(Registry(), port=server.port, address="127.0.0.1")
        with pytest.raises(OSError):
            taken.open()
        server.start()
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert "celeriac_workers_online" in response.read().decode()
    finally:
        server.stop()


def test_metrics_server_on_an_ipv6_address() -> None:
    server = MetricsServer(Registry(), port=0, address="::1")
    server.start()
    try:
        assert server.url == f"http://[::1]:{server.port}/metrics"
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop()


def test_metrics_server_stops_without_having_served() -> None:
    server = MetricsServer(Registry(), port=0, address="127.0.0.1")
    server.open()
    server.stop()
    server.stop()
