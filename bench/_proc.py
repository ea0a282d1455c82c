"""Worker subprocesses and what /proc says about them (CPU seconds, resident memory).

A worker is started in a session of its own, with its output in a log file; readiness is
the log line ``<hostname> ready.`` (both frameworks log it at INFO). CPU and memory are
summed over the worker's whole process tree: the main process, its pool children and,
for celeriac, the fork server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
# The worker-side modules (benchtasks, benchtasks_celery, their task code, the client).
TASKS_DIR = Path(__file__).resolve().parent / "tasks"

# Same pool, same concurrency; gossip, mingle and heartbeat off.
WORKER_COMMANDS = {
    "celeriac": [
        "-m",
        "celeriac",
        "-A",
        "benchtasks",
        "worker",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ],
    "celery": [
        "-m",
        "celery",
        "-A",
        "benchtasks_celery",
        "worker",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ],
}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds of ``pids`` (live processes, all their threads)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


@dataclass(frozen=True)
class ThreadStats:
    """What the kernel counted for one thread: CPU seconds and context switches."""

    user_s: float
    system_s: float
    voluntary_switches: int
    involuntary_switches: int

    def __sub__(self, other: ThreadStats) -> ThreadStats:
        return ThreadStats(
            self.user_s - other.user_s,
            self.system_s - other.system_s,
            self.voluntary_switches - other.voluntary_switches,
            self.involuntary_switches - other.involuntary_switches,
        )


def thread_stats(pid: int) -> dict[int, ThreadStats]:
    """User and system CPU seconds and context switches of each live thread of ``pid``."""
    found = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                fields = text[text.rindex(")") + 2 :].split()
                status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
                switches = {
                    key: int(value)
                    for key, _, value in (line.partition(":\t") for line in status.splitlines())
                    if key.endswith("ctxt_switches")
                }
                found[int(tid)] = ThreadStats(
                    int(fields[11]) / CLOCK_TICKS,
                    int(fields[12]) / CLOCK_TICKS,
                    switches["voluntary_ctxt_switches"],
                    switches["nonvoluntary_ctxt_switches"],
                )
    return found


def cpu_seconds_precise(pids: list[int]) -> float:
    """On-CPU seconds of the live threads of ``pids``, in nanoseconds' precision.

    ``schedstat`` counts only threads alive now, so this is for short windows in which
    no thread ends (idle); :func:`cpu_seconds` (clock ticks, 10 ms) counts ended ones too.
    """
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total / 1e9


def memory_kib(pids: list[int]) -> dict[str, int]:
    """Resident (RSS) and proportional (PSS: shared pages split) memory of ``pids``."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return {"rss_kib": rss, "pss_kib": pss}


@dataclass
class Worker:
    """One worker subprocess of either framework."""

    framework: str
    env: dict[str, str]
    cwd: Path
    log_path: Path
    loglevel: str = "INFO"
    concurrency: int = 2
    python_path: str = str(TASKS_DIR)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def command(self) -> list[str]:
        """The command line, after the Python interpreter."""
        return [
            *WORKER_COMMANDS[self.framework],
            "-P",
            "prefork",
            "-c",
            str(self.concurrency),
            "-l",
            self.loglevel,
            "-n",
            f"bench-{self.framework}@%h",
            *self.extra_args,
        ]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the worker; its output goes to :attr:`log_path`."""
        env = {**os.environ, **self.env, "PYTHONPATH": self.python_path, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("wb") as log:
            self.started_at = time.time()
            self.process = subprocess.Popen(
                [sys.executable, *self.command],
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for the ``ready.`` log line; return seconds since :meth:`start`."""
        deadline = time.monotonic() + timeout
        offset = 0
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.framework} worker exited: see {self.log_path}")
            with self.log_path.open("rb") as log:
                log.seek(offset)
                chunk = log.read()
            for line in chunk.splitlines():
                if line.rstrip().endswith(b" ready."):
                    return time.time() - self.started_at
            offset += len(chunk) - len(chunk.rpartition(b"\n")[2])
            time.sleep(0.01)  # the condition is the log line; this only paces the reads
        raise TimeoutError(f"{self.framework} worker not ready after {timeout}s")

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.tree())

    def cpu_precise(self) -> float:
        return cpu_seconds_precise(self.tree())

    def memory(self) -> dict[str, int]:
        return memory_kib(self.tree())

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown (SIGTERM); whatever of its session is left after ``timeout`` is killed."""
        if self.process is None:
            return
        pgid = self.process.pid  # its own session: the process group is the worker's
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.process = None
