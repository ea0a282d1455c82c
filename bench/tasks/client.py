"""The client side of the benchmark, one measurement per process.

``python bench/tasks/client.py <celeriac|celery|raw> <operation> <n>`` prints one JSON object.
It runs in a fresh process that imports only the framework it measures (through
``benchtasks`` or ``benchtasks_celery``), so neither side pays for the other's imports.

Operations: ``enqueue`` (n ``delay()`` calls one at a time: a ``first`` mark, n - 2
no-ops, a ``last`` mark), ``group`` (one group of n no-ops), ``latency`` (n sequential
``add.delay(2, 2).get()``), ``chord`` (``add`` x n with ``xsum``), ``chain`` (n ``add``),
and for ``raw``: ``lpush`` (n LPUSH of a 500-byte payload with redis-py, the ceiling).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

GET_TIMEOUT = 600.0


def _app_module(framework: str) -> Any:
    return importlib.import_module("benchtasks" if framework == "celeriac" else "benchtasks_celery")


def _canvas(framework: str) -> Any:
    return importlib.import_module(framework)


def enqueue(tasks: Any, framework: str, n: int) -> dict[str, Any]:
    noop, mark = tasks.noop, tasks.mark
    started = time.perf_counter()
    mark.delay("first")
    for _ in range(n - 2):
        noop.delay()
    mark.delay("last")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rate": n / seconds}


def bulk(tasks: Any, framework: str, n: int) -> dict[str, Any]:
    group = _canvas(framework).group
    started = time.perf_counter()
    job = group([tasks.noop.s() for _ in range(n)])
    built = time.perf_counter()
    job.apply_async()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "build_seconds": built - started, "rate": n / seconds}


def latency(tasks: Any, framework: str, n: int) -> dict[str, Any]:
    add = tasks.add
    add.delay(1, 1).get(timeout=120)  # the worker is up and connected
    for _ in range(20):  # warm both sides' connections and code paths
        add.delay(1, 1).get(timeout=GET_TIMEOUT)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        value = add.delay(2, 2).get(timeout=GET_TIMEOUT)
        samples.append((time.perf_counter() - started) * 1000)
        assert value == 4, value
    return {"ms": samples}


def chord(tasks: Any, framework: str, n: int) -> dict[str, Any]:
    canvas = _canvas(framework)
    add, xsum = tasks.add, tasks.xsum
    add.delay(1, 1).get(timeout=120)
    started = time.perf_counter()
    # chord(header, body).apply_async(): the form both accept (celeriac's chord(header)(body)
    # takes body as an argument, see docs/performance.md).
    value = canvas.chord([add.s(i, i) for i in range(n)], xsum.s()).apply_async()
    value = value.get(timeout=GET_TIMEOUT)
    seconds = time.perf_counter() - started
    assert value == n * (n - 1), value
    return {"seconds": seconds}


def chain(tasks: Any, framework: str, n: int) -> dict[str, Any]:
    canvas = _canvas(framework)
    add = tasks.add
    add.delay(1, 1).get(timeout=120)
    started = time.perf_counter()
    value = canvas.chain(add.s(0, 1), *[add.s(1) for _ in range(n - 1)])().get(timeout=GET_TIMEOUT)
    seconds = time.perf_counter() - started
    assert value == n, value
    return {"seconds": seconds}


def lpush(n: int) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(os.environ["BENCH_BROKER_URL"])
    payload = b"x" * 500
    client.ping()
    started = time.perf_counter()
    for _ in range(n):
        client.lpush("bench:raw", payload)
    seconds = time.perf_counter() - started
    client.delete("bench:raw")
    return {"seconds": seconds, "rate": n / seconds}


OPERATIONS: dict[str, Callable[[Any, str, int], dict[str, Any]]] = {
    "enqueue": enqueue,
    "group": bulk,
    "latency": latency,
    "chord": chord,
    "chain": chain,
}


def main() -> None:
    framework, operation, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if framework == "raw":
        result = lpush(n)
    else:
        result = OPERATIONS[operation](_app_module(framework), framework, n)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
