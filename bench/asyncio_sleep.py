"""``python -m bench.asyncio_sleep``: 1,000 tasks that each ``await asyncio.sleep(0.1)``.

One ``celeriac worker -P asyncio -c 1000`` process; the clock runs from the first
``delay()`` until every result has been read back, so it includes publishing, the
worker's fetching, the 0.1 s sleeps (concurrent, on the worker's event loop), result
storage and the client's reads. The target (issue 12) is under 2 s; Celery's prefork
pool needs minutes for the same (1,000 x 0.1 s over a handful of processes).

By default broker and results are the embedded SQLite files in a temporary directory;
``--broker``/``--backend`` point it elsewhere (e.g. ``redis://127.0.0.1:6379/9``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from celeriac.testing.processes import WorkerProcess

APP = textwrap.dedent(
    """
    import asyncio
    import os

    from celeriac import Celery

    app = Celery(
        "sleepbench",
        broker=os.environ.get("BENCH_BROKER") or None,
        backend=os.environ.get("BENCH_BACKEND") or "sqlite:///results.sqlite3",
    )


    @app.task
    async def nap(seconds):
        await asyncio.sleep(seconds)
        return seconds
    """
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.asyncio_sleep", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks to send (default 1000)")
    parser.add_argument("--sleep", type=float, default=0.1, help="seconds each awaits (0.1)")
    parser.add_argument("--concurrency", type=int, default=1000, help="worker -c (1000)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--broker", default="", help="broker URL (default: embedded SQLite)")
    parser.add_argument("--backend", default="", help="result backend URL (default: SQLite)")
    return parser.parse_args(argv)


def _one_run(app_module: object, tasks: int, sleep: float) -> float:
    nap = app_module.nap  # type: ignore[attr-defined]
    started = time.perf_counter()
    results = [nap.delay(sleep) for _ in range(tasks)]
    for result in results:
        result.get(timeout=120)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    """Start the worker, time ``--reps`` runs, print each and the median."""
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="asyncio-sleep-") as tmp:
        Path(tmp, "sleepbench.py").write_text(APP)
        env = {"BENCH_BROKER": args.broker, "BENCH_BACKEND": args.backend}
        worker = WorkerProcess(
            "sleepbench",
            ["-P", "asyncio", "-c", str(args.concurrency), "--without-heartbeat"],
            cwd=tmp,
            env=env,
            log_path=Path(tmp, "worker.log"),
        )
        os.environ.update(env)
        os.chdir(tmp)
        sys.path.insert(0, tmp)
        import sleepbench  # type: ignore[import-not-found]

        with worker.start():
            sleepbench.nap.delay(0).get(timeout=30)  # warm: connections, imports
            times = [_one_run(sleepbench, args.tasks, args.sleep) for _ in range(args.reps)]
        sleepbench.app.close()
    for number, seconds in enumerate(times, start=1):
        print(f"run {number}: {args.tasks} x await asyncio.sleep({args.sleep}): {seconds:.3f} s")
    print(
        f"median {statistics.median(times):.3f} s over {len(times)} runs "
        f"(-P asyncio -c {args.concurrency}; target < 2 s)"
    )


if __name__ == "__main__":
    main()
