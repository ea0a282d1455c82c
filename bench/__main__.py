"""``python -m bench``: celeriac against Celery on one local Redis, in one run.

``python -m bench`` runs every measurement ``--reps`` times (celeriac and Celery
interleaved, the order alternating per repetition), prints the Markdown table and writes
``bench/results/<time>.json`` (every raw sample) plus ``bench/results/latest.{json,md}``.
``python -m bench profile`` samples a draining worker with py-spy and ``python -m bench
trace`` prints one ``add.delay(2, 2).get()`` round trip as Redis saw it (see
``bench/profile.py``). docs/performance.md explains the rows and shows the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench._machine import machine
from bench._redis import claimed_database
from bench._report import markdown, summarize
from bench._runs import Runner, Settings
from bench._source import prepare

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = (
    "lpush",
    "drain",
    "drain_warning",
    "drain_events",
    "bulk",
    "results",
    "idle",
    "sqlite",
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=("run", "profile", "trace"))
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument(
        "--celery-reps", type=int, help="repetitions of the Celery rows (default: --reps)"
    )
    parser.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
        help="Redis server, no database (default redis://127.0.0.1:6379 or $BENCH_REDIS_URL)",
    )
    parser.add_argument("--db", type=int, help="database number (default: the first free one)")
    parser.add_argument(
        "--only", help=f"comma-separated subset of: {', '.join(SECTIONS)} (default: all)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: 1,000 tasks instead of 10,000, etc."
    )
    parser.add_argument(
        "--source",
        default="head",
        help="celeriac to measure: head (the last commit, default), tree (the working tree)"
        " or a path to a src/ directory",
    )
    parser.add_argument("--loglevel", default="INFO", help="worker log level (default INFO)")
    parser.add_argument(
        "--framework",
        default="celeriac",
        choices=("celeriac", "celery"),
        help="profile, trace: whose worker",
    )
    parser.add_argument("--lines", type=int, default=60, help="trace: commands to show")
    parser.add_argument("--seconds", type=float, default=15.0, help="profile: seconds to sample")
    parser.add_argument(
        "--events", action="store_true", help="profile: the worker sends task events (-E)"
    )
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace, db: int, workdir: Path, src: Path | None) -> Settings:
    """The run's settings from the command line."""
    settings = Settings(
        server=args.redis.rstrip("/"),
        db=db,
        workdir=workdir,
        loglevel=args.loglevel,
        celeriac_src=src,
    )
    if args.quick:
        settings = dataclasses.replace(
            settings,
            enqueue_n=1_000,
            group_n=1_000,
            latency_n=100,
            chord_n=100,
            chain_n=20,
            idle_seconds=3.0,
        )
    return settings


def _step(raw: dict[str, Any], where: list[Any], what: str, run: Callable[[], Any]) -> None:
    started = time.monotonic()
    print(f"  {what} ...", end="", flush=True)
    try:
        where.append(run())
    except Exception as exc:  # one failed measurement must not lose the others
        raw.setdefault("errors", []).append(f"{what}: {exc}")
        print(f" FAILED ({exc})", flush=True)
        return
    print(f" {time.monotonic() - started:.1f}s", flush=True)


def _run_rep(runner: Runner, raw: dict[str, Any], rep: int, args: argparse.Namespace) -> None:
    wanted = set(args.only.split(",")) if args.only else set(SECTIONS)
    celery_reps = args.celery_reps if args.celery_reps is not None else args.reps
    order = ["celeriac", "celery"] if rep % 2 == 0 else ["celery", "celeriac"]
    if "lpush" in wanted:
        _step(raw, raw["lpush"], "raw LPUSH", runner.lpush)
    for fw in order:
        if fw == "celery" and rep >= celery_reps:
            continue
        steps: list[tuple[str, str, Callable[[], Any]]] = [
            ("drain", "enqueue + drain", partial(runner.enqueue_and_drain, fw)),
            (
                "drain_warning",
                "enqueue + drain at -l WARNING",
                partial(runner.enqueue_and_drain, fw, loglevel="WARNING"),
            ),
            (
                "drain_events",
                "enqueue + drain with -E",
                partial(runner.enqueue_and_drain, fw, extra_args=["-E"]),
            ),
            ("bulk", "group", partial(runner.bulk, fw)),
            ("results", "latency, chord, chain", partial(runner.with_results, fw)),
            ("idle", "idle", partial(runner.idle, fw)),
        ]
        for section, what, step in steps:
            if section == "drain_events" and fw != "celeriac":
                continue  # a celeriac row: events on against off, same run
            if section in wanted:
                _step(raw, raw[fw][section], f"{fw}: {what}", step)
    if "sqlite" in wanted:
        _step(raw, raw["sqlite"], "celeriac: SQLite drain and latency", runner.sqlite)


def run(args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    with (
        claimed_database(args.redis.rstrip("/"), args.db) as db,
        tempfile.TemporaryDirectory(prefix="celeriac-bench-") as tmp,
    ):
        src, celeriac = prepare(args.source, Path(tmp))
        settings = settings_for(args, db, Path(tmp), src)
        runner = Runner(settings)
        raw: dict[str, Any] = {
            "started": dt.datetime.now(dt.timezone.utc).isoformat(),
            "settings": {key: str(value) for key, value in settings.__dict__.items()},
            "celeriac_source": celeriac,
            "reps": args.reps,
            "machine": machine(runner.marks.info()),
            "lpush": [],
            "sqlite": [],
            "celeriac": {section: [] for section in SECTIONS},
            "celery": {section: [] for section in SECTIONS},
        }
        print(f"Redis {settings.redis_url}, work directory {tmp}", flush=True)
        try:
            for rep in range(args.reps):
                print(f"repetition {rep + 1}/{args.reps}", flush=True)
                _run_rep(runner, raw, rep, args)
        finally:
            runner.marks.flush()
            raw["finished"] = dt.datetime.now(dt.timezone.utc).isoformat()
            raw["loadavg_end"] = os.getloadavg()
            rows = summarize(raw)
            raw["summary"] = rows
            table = markdown(rows)
            text = json.dumps(raw, indent=1)
            (RESULTS / f"{stamp}.json").write_text(text)
            (RESULTS / "latest.json").write_text(text)
            (RESULTS / "latest.md").write_text(table)
    print()
    print(table)
    for error in raw.get("errors", []):
        print(f"error: {error}")
    print(f"raw numbers: {RESULTS / f'{stamp}.json'}")


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.command == "profile":
        from bench.profile import profile

        profile(args)
    elif args.command == "trace":
        from bench.profile import trace

        trace(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
