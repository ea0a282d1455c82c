"""Chart series and per-name statistics, on a fake clock."""

from __future__ import annotations

from celeriac.dashboard.series import MIN_POINTS, Series, TaskTypes, percentile


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.01) == 7.0


def test_points_are_rates_per_second_with_percentiles() -> None:
    clock = Clock()
    series = Series(bucket_seconds=2.0, size=10, clock=clock)
    for runtime in (0.1, 0.2, 0.3, 0.4):
        series.record("task-succeeded", runtime)
    series.record("task-failed")
    series.record("task-received")
    series.record("task-started")  # not counted
    last = series.points()[-1]
    assert last["t"] == 1000.0
    assert last["succeeded"] == 2.0  # 4 in a 2 s bucket
    assert last["failed"] == 0.5 and last["received"] == 0.5
    assert (last["p50"], last["p90"], last["p99"]) == (0.2, 0.4, 0.4)


def test_young_series_starts_near_now_then_grows_to_its_size() -> None:
    clock = Clock()
    series = Series(bucket_seconds=1.0, size=300, clock=clock)
    assert len(series.points()) == MIN_POINTS
    clock.now += 100
    assert len(series.points()) == 101
    clock.now += 1000
    points = series.points()
    assert len(points) == 300 and points[-1]["t"] == 2100.0


def test_old_events_are_clamped_into_the_window_and_old_buckets_dropped() -> None:
    clock = Clock()
    series = Series(bucket_seconds=1.0, size=5, clock=clock)
    series.record("task-succeeded", 0.1, at=10.0)  # long ago: counted in the oldest point
    points = series.points()
    assert points[-5]["succeeded"] == 1.0
    clock.now += 10
    series.record("task-succeeded", 0.1)
    assert sum(p["succeeded"] for p in series.points()) == 1.0
    assert len(series._buckets) == 1


def test_runtime_samples_are_bounded() -> None:
    clock = Clock()
    series = Series(bucket_seconds=1.0, max_samples=10, clock=clock)
    for i in range(1000):
        series.record("task-succeeded", float(i))
    [bucket] = series._buckets.values()
    assert len(bucket.runtimes) == 10 and bucket.succeeded == 1000


def test_task_types_rows_busiest_first_and_bounded() -> None:
    types = TaskTypes(limit=2, clock=Clock())
    for _ in range(3):
        types.record("a", "task-received")
        types.record("a", "task-succeeded", 0.5)
    types.record("b", "task-failed")
    types.record("b", "task-started")  # ignored
    rows = types.rows()
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["received"] == 3 and rows[0]["succeeded"] == 3 and rows[0]["p95"] == 0.5
    assert rows[1]["failed"] == 1 and rows[1]["p50"] is None
    types.record("c", "task-received")  # evicts the least recently seen
    assert len(types.names()) == 2 and "c" in types.names()
