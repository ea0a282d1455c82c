"""``python -m bench profile``: where a draining celeriac worker spends its CPU, per task.

Enqueues no-op tasks on the bench's Redis database, starts ``celeriac worker -P prefork
-c 2`` (results off) and, while it drains, measures per task:

- each thread's user and system CPU time and context switches (from /proc);
- where the user time goes: ``py-spy record --gil`` samples every process of the tree
  (``pip install py-spy``; the ``bench`` extra has it) and only keeps threads that hold
  the GIL, that is, run Python. Each sample goes to the first stage of the hot path whose
  pattern one of its frames matches (:data:`MAIN_STAGES`, :data:`CHILD_STAGES`); a
  thread's user time is split in proportion. System time is the kernel's: socket reads
  and writes, waking the other side, epoll;
- the Redis commands sent per task (``MONITOR`` over a few seconds after the samples).

Raw stacks, the JSON report and the worker log go to ``bench/results/profile-<time>/``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._proc import ThreadStats, process_tree, thread_stats
from bench._redis import CommandCounter, claimed_database
from bench._runs import Runner, Settings
from bench._source import prepare

RESULTS = Path(__file__).resolve().parent / "results"

# (stage, regular expression on the joined frames "function (file:line)", thread frames
# included), most specific first: a sample goes to the first stage that matches.
MAIN_STAGES = [
    ("logging (the received line)", r"\(logging/"),
    ("events: build, buffer (EventsHook)", r"EventsHook|send_task_event"),
    ("events: flush (encode, PUBLISH)", r"_flush_events|EventDispatcher\.flush|EventChannel"),
    ("remote-control mailbox thread", r"_redis_control|Mailbox"),
    ("supervisor thread: write the next job to a child", r"celeriac-prefork-supervisor.*_assign"),
    ("supervisor thread: hand completion to the loop", r"celeriac-prefork-supervisor.*_report"),
    ("supervisor thread: select and the rest", r"celeriac-prefork-supervisor"),
    ("loop: ack (script call)", r"_flush_acks|\baack\b|Acks\."),
    ("loop: fetch (take script, envelope decode)", r"\bafetch\b|_atake|decode_delivery|\btaken\b"),
    ("loop: header parse (parse_task_message)", r"parse_task_message"),
    ("loop: hooks (stats, signals)", r"run_hooks"),
    ("loop: dispatch (pickle + write to a child)", r"Consumer\._dispatch|PreforkPool\.submit"),
    ("loop: completion (settling)", r"Consumer\._finished|Consumer\._settle_done|_report"),
    ("pool: read + unpickle outcomes", r"ChildReaders\.read|_handle_frames|FrameReader"),
    ("loop: lease renewal", r"_renew"),
    ("loop: redis-py (commands, replies)", r"redis/"),
    ("loop: asyncio scheduling and select", r"asyncio/"),
]
CHILD_STAGES = [
    ("logging (the succeeded line)", r"\(logging/"),
    ("result backend write", r"celeriac/backends/"),
    ("send the outcome (pickle + write)", r"_reply \(|send_frame|dump_frame"),
    (
        "receive the job (read, unpickle, parse the headers)",
        r"recv_frame|_recv_exact|FrameReader|worker/payload\.py|_serve \([^;]*\)$",
    ),
    ("decode the body (json)", r"decode_body|_load_body|serialization\.py"),
    ("the task function", r"benchdefs\.py"),
    ("trace: request, states, signals", r"celeriac/worker/|celeriac/app/|_run_one"),
]
# Celery's worker, for comparison (``--framework celery``): coarser stages.
CELERY_STAGES = [
    ("logging", r"\(logging/"),
    ("redis-py (commands, replies)", r"\(redis/"),
    ("kombu's Redis transport (BRPOP, QoS, ack emulation)", r"kombu/transport/"),
    ("event loop (kombu hub)", r"kombu/asynchronous/"),
    ("kombu messages (decode)", r"\(kombu/"),
    ("billiard pool (pipes, pickling, scheduling)", r"billiard/|celery/concurrency/"),
    ("task trace (celery/app/trace.py)", r"celery/app/trace\.py"),
    ("celery worker (strategy, request, consumer)", r"celery/worker/|celery/app/"),
]
OTHER = "other"
# Every process of the tree, thread ids shown, only threads holding the GIL, without
# pausing the worker (that would slow it down), 250 samples a second.
SPY_OPTIONS = ["--subprocesses", "--nonblocking", "--threads", "--gil", "--rate", "250"]
SPY_OPTIONS += ["--format", "raw"]
MONITOR_SECONDS = 3.0
# Tasks/s a worker drains at most here: enough are enqueued to outlast the window.
DRAIN_GUESS = {"celeriac": 8_000, "celery": 1_000}

Stacks = collections.Counter[tuple[str, ...]]
_ZERO = ThreadStats(0.0, 0.0, 0, 0)  # a thread started during the window


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy (or the bench extra)")
    return found


def read_stacks(path: Path) -> dict[tuple[int, int], Stacks]:
    """py-spy's raw output: sample counts of each stack, per (process id, thread id).

    The first frame of each stack kept is the thread's (``thread (<tid>): <name>``).
    """
    found: dict[tuple[int, int], Stacks] = collections.defaultdict(collections.Counter)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        # A child's stack starts with its ancestors' "process" frames: the last one is it.
        pids = [m.group(1) for f in frames if (m := re.match(r"process (\d+):", f))]
        tids = [m.group(1) for f in frames if (m := re.match(r"thread \((\d+)\)", f))]
        if not pids or not tids or not count.isdigit():
            continue
        body = tuple(f for f in frames if not f.startswith("process "))
        found[int(pids[-1]), int(tids[-1])][body] += int(count)
    return found


def classify(
    stacks: Stacks, stages: list[tuple[str, str]], *, innermost: bool = False
) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Samples per stage, and per innermost frame.

    A sample goes to the first stage whose pattern matches any of its frames or, with
    ``innermost``, to the stage of its innermost frame that matches one (for Celery, whose
    every stack runs under kombu's event loop).
    """
    compiled = [(name, re.compile(pattern)) for name, pattern in stages]
    per_stage: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for stack, count in stacks.items():
        texts = list(reversed(stack)) if innermost else [";".join(stack)]
        found = (name for text in texts for name, rx in compiled if rx.search(text))
        per_stage[next(found, OTHER)] += count
        leaves[stack[-1]] += count
    return per_stage, leaves


def _roles(root: int, framework: str) -> dict[int, str]:
    roles = {root: "main"}
    for pid in process_tree(root):
        if pid != root:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            # celeriac's children are forked by its fork server; Celery's by the main process.
            is_server = parent == root and framework == "celeriac"
            roles[pid] = "fork server" if is_server else "child"
    return roles


def _snapshot(pids: list[int]) -> dict[tuple[int, int], ThreadStats]:
    return {(pid, tid): stats for pid in pids for tid, stats in thread_stats(pid).items()}


def _breakdown(
    threads: dict[int, Stacks],
    stats: dict[int, ThreadStats],
    stages: list[tuple[str, str]],
    tasks: int,
) -> dict[str, Any]:
    """Per task: each thread's CPU, and its user time split by its GIL-holding samples."""
    per_task = 1e6 / max(tasks, 1)
    per_stage_us: dict[str, float] = collections.defaultdict(float)
    leaves_us: dict[str, float] = collections.defaultdict(float)
    rows = []
    for tid, delta in sorted(stats.items(), key=lambda item: -item[1].user_s - item[1].system_s):
        stacks = threads.get(tid, collections.Counter())
        name = next((stack[0].partition(": ")[2] for stack in stacks), "")
        user_us, system_us = delta.user_s * per_task, delta.system_s * per_task
        rows.append(
            {
                "thread": name or f"tid {tid}",
                "user_us": user_us,
                "system_us": system_us,
                "voluntary_switches": delta.voluntary_switches / max(tasks, 1),
                "involuntary_switches": delta.involuntary_switches / max(tasks, 1),
                "gil_samples": sum(stacks.values()),
            }
        )
        per_stage_us["kernel (system time: sockets, wake-ups, epoll)"] += system_us
        per_stage, leaves = classify(stacks, stages, innermost=stages is CELERY_STAGES)
        samples = sum(per_stage.values())
        if not samples:
            per_stage_us[OTHER] += user_us
            continue
        for stage, count in per_stage.items():
            per_stage_us[stage] += user_us * count / samples
        for leaf, count in leaves.items():
            leaves_us[leaf] += user_us * count / samples
    order = [name for name, _ in stages] + [OTHER, "kernel (system time: sockets, wake-ups, epoll)"]
    return {
        "us_per_task": sum(per_stage_us.values()),
        "threads": rows,
        "stages": [
            {"stage": name, "us_per_task": per_stage_us[name]}
            for name in order
            if per_stage_us[name]
        ],
        "top_self": [
            {"frame": frame, "us_per_task": us}
            for frame, us in sorted(leaves_us.items(), key=lambda item: -item[1])[:25]
        ],
    }


def profile(args: argparse.Namespace) -> None:
    """Run the profile and print the per-task breakdown (also saved as JSON)."""
    py_spy = _py_spy()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"profile-{stamp}"
    out.mkdir(parents=True)
    raw = out / "stacks.txt"
    with (
        claimed_database(args.redis.rstrip("/"), args.db) as db,
        tempfile.TemporaryDirectory(prefix="celeriac-profile-") as tmp,
    ):
        src, celeriac = prepare(args.source, Path(tmp))
        settings = Settings(
            server=args.redis.rstrip("/"),
            db=db,
            workdir=Path(tmp),
            # Enough to outlast the window at a few thousand tasks/s.
            enqueue_n=int((args.seconds + MONITOR_SECONDS) * DRAIN_GUESS[args.framework]),
            loglevel=args.loglevel,
            celeriac_src=src,
        )
        runner = Runner(settings)
        runner.marks.flush()
        env = runner.env()
        enqueue = runner.client(args.framework, "enqueue", settings.enqueue_n, env)
        extra = ["-E"] if args.events else []
        worker = runner.worker(args.framework, env, extra_args=extra)
        try:
            worker.start()
            runner.marks.wait("first")
            roles = _roles(worker.pid, args.framework)
            before, waiting_before = _snapshot(list(roles)), runner.marks.queue_length()
            window = ["--duration", str(int(args.seconds)), "--output", str(raw)]
            subprocess.run(
                [py_spy, "record", "--pid", str(worker.pid), *SPY_OPTIONS, *window],
                check=True,
                capture_output=True,
            )
            after, waiting_after = _snapshot(list(roles)), runner.marks.queue_length()
            commands = _commands_per_task(runner, settings)
            if runner.marks.queue_length() == 0:
                raise SystemExit("the queue ran dry while measuring: use fewer --seconds")
        finally:
            worker.stop()
        shutil.copy(worker.log_path, out / "worker.log")
    # Taken from the queue in the window (give or take the few prefetched).
    tasks = waiting_before - waiting_after
    stacks = read_stacks(raw)
    report: dict[str, Any] = {
        "framework": args.framework,
        "celeriac_source": celeriac,
        "loglevel": args.loglevel,
        "events": args.events,
        "seconds": args.seconds,
        "tasks_in_window": tasks,
        "tasks_per_s": tasks / args.seconds,
        "enqueue_rate": enqueue["rate"],
        "redis_commands": commands,
        "processes": {},
    }
    for pid, role in roles.items():
        stats = {tid: after[p, tid] - before.get((p, tid), _ZERO) for p, tid in after if p == pid}
        threads = {tid: counter for (p, tid), counter in stacks.items() if p == pid}
        stages = MAIN_STAGES if role == "main" else CHILD_STAGES
        if args.framework == "celery":
            stages = CELERY_STAGES
        report["processes"][f"{role} {pid}"] = _breakdown(threads, stats, stages, tasks)
    (out / "profile.json").write_text(json.dumps(report, indent=1))
    print(summary_text(report))
    print(f"raw stacks, JSON and the worker log: {out}")


def _commands_per_task(runner: Runner, settings: Settings) -> dict[str, Any]:
    """Redis commands the worker sends per task (MONITOR, after the sampled window)."""
    counter = CommandCounter(settings.server, settings.db)
    counter.start()
    waiting = runner.marks.queue_length()
    time.sleep(MONITOR_SECONDS)  # the measurement window itself
    tasks = max(waiting - runner.marks.queue_length(), 1)
    counter.stop()
    # The bench's own LLEN calls are on the same database: leave them out.
    counts = {name: n for name, n in counter.counts.items() if name != "llen"}
    return {
        "tasks": tasks,
        "per_task": {name: n / tasks for name, n in sorted(counts.items())},
        "in_scripts_per_task": {
            name: n / tasks for name, n in sorted(counter.script_counts.items())
        },
    }


def summary_text(report: dict[str, Any]) -> str:
    """The breakdown as Markdown tables (what docs/performance.md shows)."""
    commands = report["redis_commands"]["per_task"]
    lines = [
        f"{report['framework']}: {report['tasks_in_window']:,} tasks in {report['seconds']:.0f} s "
        f"({report['tasks_per_s']:,.0f} tasks/s) at -l {report['loglevel']}",
        "",
        "Redis commands per task: " + ", ".join(f"{name} {n:.2f}" for name, n in commands.items()),
        "",
    ]
    for name, process in report["processes"].items():
        if process["us_per_task"] < 0.5:
            continue
        lines += [
            f"{name}: {process['us_per_task']:.0f} us of CPU per task",
            "",
            "| stage | us/task |",
            "|---|---:|",
        ]
        lines += [f"| {s['stage']} | {s['us_per_task']:.1f} |" for s in process["stages"]]
        lines += [
            "",
            "| thread | user us/task | system us/task | switches/task (vol., invol.) |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {t['thread']} | {t['user_us']:.1f} | {t['system_us']:.1f} | "
            f"{t['voluntary_switches']:.2f}, {t['involuntary_switches']:.2f} |"
            for t in process["threads"]
            if t["user_us"] + t["system_us"] >= 0.5
        ]
        lines += ["", "| innermost frame (user time) | us/task |", "|---|---:|"]
        lines += [f"| `{f['frame']}` | {f['us_per_task']:.1f} |" for f in process["top_self"][:12]]
        lines.append("")
    return "\n".join(lines)


def trace(args: argparse.Namespace) -> None:
    """Print what Redis saw during the last round trips of ``add.delay(2, 2).get()``.

    Every command on the bench's database, with its time relative to the first one shown
    and which connection sent it: where a round trip waits, and on whom.
    """
    with (
        claimed_database(args.redis.rstrip("/"), args.db) as db,
        tempfile.TemporaryDirectory(prefix="celeriac-trace-") as tmp,
    ):
        src, _ = prepare(args.source, Path(tmp))
        settings = Settings(
            server=args.redis.rstrip("/"), db=db, workdir=Path(tmp), celeriac_src=src
        )
        runner = Runner(settings)
        runner.marks.flush()
        env = runner.env(backend=settings.redis_url)
        worker = runner.worker(args.framework, env, args.loglevel)
        counter = CommandCounter(settings.server, db, record=True)
        try:
            worker.start()
            worker.wait_ready()
            counter.start()
            found = runner.client(args.framework, "latency", 3, env)
            time.sleep(0.5)  # lets the monitor stream catch up; not a wait for a condition
            counter.stop()
        finally:
            worker.stop()
        runner.marks.flush()
    print(
        f"{args.framework}: the last round trips took "
        + ", ".join(f"{ms:.2f} ms" for ms in found["ms"])
    )
    lines = [line for line in counter.lines if "bench:marks" not in line[2]]
    # Up to the last result read: what follows is the idle worker polling.
    ends = [i for i, line in enumerate(lines) if "celery-task-meta" in line[2]]
    shown = lines[: ends[-1] + 2][-args.lines :] if ends else lines[-args.lines :]
    names: dict[str, str] = {}
    start = shown[0][0] if shown else 0.0
    for at, client, text in shown:
        who = names.setdefault(client, "lua" if client == "lua" else f"conn{len(names) + 1}")
        print(f"{(at - start) * 1000:8.3f} ms  {who:6} {text[:110]}")
