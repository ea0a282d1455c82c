"""``celeriac events``: the terminal monitor, driven in a real pseudo-terminal.

``python -m celeriac events`` runs on a pty (TERM=xterm-256color); the tests publish events
into its SQLite broker file (or run a real worker with ``-E``) and read what it draws.
curses sends only the cells that changed (``Revoked`` after ``Revoke`` arrives as ``d``),
so the output goes through a small screen model (``Screen``) applying ncurses' cursor
moves and erases; tests read its lines.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac import Celery
from celeriac.events import EventDispatcher
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e

DOWN, PAGE_DOWN, ENTER, ESC = b"\x1bOB", b"\x1b[6~", b"\r", b"\x1b"
_TOKEN = re.compile(
    r"\x1b\[([?>=]?)([0-9;]*)[ -/]*([@-~])"  # CSI: private marker, parameters, final
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC (titles)
    r"|\x1b[()*+].|\x1b[^\[\]()*+]"  # charset choice, or a two-byte escape
    r"|[\x00-\x1a\x1c-\x1f]|[^\x00-\x1f]+",  # one control character, or text
    re.DOTALL,
)


class Screen:
    """The cells of a terminal, updated by the escape sequences ncurses sends."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.cells = [[" "] * cols for _ in range(rows)]
        self.y = self.x = 0
        self.top, self.bottom = 0, rows - 1
        self.last = " "
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def resize(self, rows: int, cols: int) -> None:
        self.cells = [(row + [" "] * cols)[:cols] for row in self.cells[:rows]]
        self.cells += [[" "] * cols for _ in range(rows - len(self.cells))]
        self.rows, self.cols, self.top, self.bottom = rows, cols, 0, rows - 1
        self.y, self.x = min(self.y, rows - 1), min(self.x, cols - 1)

    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.cells]

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                break  # an escape sequence cut by the read: wait for the rest
            self._apply(match)
            position = match.end()
        self._pending = text[position:]

    def _apply(self, match: re.Match[str]) -> None:
        token = match.group()
        if match.group(3) is not None:
            if not match.group(1):
                params = [int(p) if p else 0 for p in match.group(2).split(";")]
                self._csi(match.group(3), params)
        elif token == "\r":
            self.x = 0
        elif token == "\n" or token == "\x1bD":
            self._index()
        elif token == "\b":
            self.x = max(0, self.x - 1)
        elif token == "\x1bM" and self.y == self.top:
            self._scroll(-1)
        elif token == "\x1bM":
            self._move(self.y - 1, self.x)
        elif token[0] not in "\x1b\x00\x07\x0e\x0f" and token >= " ":
            for char in token:
                self._put(char)

    def _put(self, char: str) -> None:
        if self.x >= self.cols:  # deferred wrap, as xterm does
            self.x = 0
            self._index()
        self.cells[self.y][self.x] = self.last = char
        self.x += 1

    def _index(self) -> None:
        if self.y == self.bottom:
            self._scroll(1)
        else:
            self.y = min(self.y + 1, self.rows - 1)

    def _move(self, y: int, x: int) -> None:
        self.y, self.x = max(0, min(y, self.rows - 1)), max(0, min(x, self.cols - 1))

    def _scroll(self, n: int, top: int | None = None) -> None:
        """Scroll the region (from ``top``) up ``n`` lines, or down when ``n`` < 0."""
        start = self.top if top is None else top
        region = self.cells[start : self.bottom + 1]
        blank = [[" "] * self.cols for _ in range(min(abs(n), len(region)))]
        region = region[n:] + blank if n > 0 else (blank + region)[: len(region)]
        self.cells[start : self.bottom + 1] = region

    def _erase(self, y: int, start: int, end: int) -> None:
        self.cells[y][start:end] = [" "] * (end - start)

    def _csi(self, final: str, params: list[int]) -> None:  # noqa: C901 (one case per code)
        n = max(1, params[0])
        y, x = self.y, self.x
        if final in "Hf":
            self._move(n - 1, max(1, params[1] if len(params) > 1 else 1) - 1)
        elif final in "ABCD":
            dy, dx = {"A": (-n, 0), "B": (n, 0), "C": (0, n), "D": (0, -n)}[final]
            self._move(y + dy, x + dx)
        elif final in "G`":
            self._move(y, n - 1)
        elif final == "d":
            self._move(n - 1, x)
        elif final == "K":
            start, end = {0: (x, self.cols), 1: (0, x + 1)}.get(params[0], (0, self.cols))
            self._erase(y, start, end)
        elif final == "J":
            above, below = params[0] != 0, params[0] != 1
            for row in range(self.rows):
                if (row < y and above) or (row > y and below):
                    self._erase(row, 0, self.cols)
            self._erase(y, 0 if above else x, self.cols if below else x + 1)
        elif final == "X":
            self._erase(y, x, min(self.cols, x + n))
        elif final == "b":
            for _ in range(n):
                self._put(self.last)
        elif final in "@P":
            cells = self.cells[y]
            cells[x:] = ([" "] * n + cells[x:]) if final == "@" else (cells[x + n :] + [" "] * n)
            del cells[self.cols :]
        elif final in "LM" and self.top <= y <= self.bottom:
            self._scroll(-n if final == "L" else n, y)
        elif final in "ST":
            self._scroll(n if final == "S" else -n)
        elif final == "r":
            self.top = max(1, params[0]) - 1
            self.bottom = (params[1] if len(params) > 1 and params[1] else self.rows) - 1
            self._move(0, 0)


class Monitor:
    """``celeriac events`` on a pseudo-terminal of ``rows`` x ``cols``."""

    def __init__(self, url: str, *args: str, rows: int = 24, cols: int = 120) -> None:
        self.master, self.slave = os.openpty()
        self._set_size(rows, cols)
        self.screen = Screen(rows, cols)
        self.raw = bytearray()
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celeriac", "-b", url, *args, "events"],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _set_size(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                if self.process.poll() is not None:
                    return
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            with self.lock:
                self.raw.extend(data)
                self.screen.feed(data)

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.screen.lines())

    def line_with(self, needle: str) -> str:
        with self.lock:
            return next((line for line in self.screen.lines() if needle in line), "")

    def wait_for(self, *needles: str, timeout: float = 15.0) -> str:
        """Wait until every needle is on the screen; return the screen."""
        if not wait_until(lambda: all(n in self.text() for n in needles), timeout=timeout):
            pytest.fail(f"{needles} never shown; screen:\n{self.text()}")
        return self.text()

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def resize(self, rows: int, cols: int) -> None:
        with self.lock:
            self._set_size(rows, cols)
            self.screen.resize(rows, cols)
        self.process.send_signal(signal.SIGWINCH)

    def terminal_is_cooked(self) -> bool:
        lflag = termios.tcgetattr(self.slave)[3]
        return bool(lflag & termios.ECHO and lflag & termios.ICANON)

    def hang_up(self) -> None:
        """Close the terminal's window: both ends of the pty, on this side."""
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        if self.master != -1:
            self.hang_up()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Celery]:
    app = Celery("monitor", broker=f"sqlite:///{tmp_path / 'x.sqlite3'}", set_as_current=False)
    app.broker.open()
    yield app
    app.close()


@pytest.fixture
def start(app: Celery) -> Iterator[Callable[..., Monitor]]:
    started: list[Monitor] = []

    def start(*args: str, rows: int = 24, cols: int = 120) -> Monitor:
        monitor = Monitor(str(app.conf.broker_url), *args, rows=rows, cols=cols)
        started.append(monitor)
        # Listening starts after the first read: only then are events seen.
        monitor.wait_for("events: 0  tasks: 0")
        return monitor

    yield start
    for monitor in started:
        monitor.close()


@pytest.fixture
def worker_online(app: Celery) -> Iterator[Callable[..., EventDispatcher]]:
    """Announce a worker; its dispatcher publishes that worker's events."""
    dispatchers: list[EventDispatcher] = []

    def announce(hostname: str = "w1@box") -> EventDispatcher:
        dispatcher = EventDispatcher(app.broker.event_channel(), hostname=hostname)
        dispatchers.append(dispatcher)
        dispatcher.send("worker-online", freq=60.0, active=1, processed=7, loadavg=[0.5, 0.25, 0])
        return dispatcher

    yield announce
    for dispatcher in dispatchers:
        dispatcher.close()


def quit_monitor(monitor: Monitor, *, interrupt: bool = False) -> None:
    assert not monitor.terminal_is_cooked()  # curses runs the pty in cbreak, no echo
    if interrupt:
        monitor.process.send_signal(signal.SIGINT)  # Ctrl+C, had the pty been its terminal
    else:
        monitor.press(b"q")
    assert monitor.process.wait(timeout=10) == 0
    assert monitor.terminal_is_cooked()
    assert b"\x1b[?1049l" in monitor.raw  # back from the alternate screen


def test_running_task_is_listed_and_revoked_from_the_keyboard(
    app: Celery, start: Callable[..., Monitor], worker_online: Callable[..., EventDispatcher]
) -> None:
    task_id = str(uuid.uuid4())
    monitor = start()
    dispatcher = worker_online()
    dispatcher.send_task_event(
        "task-received", uuid=task_id, name="proj.sleep", args="(30,)", kwargs="{}"
    )
    dispatcher.send_task_event("task-started", uuid=task_id)
    dispatcher.flush()

    monitor.wait_for(task_id, "running")
    row = monitor.line_with(task_id)
    assert row.split()[:2] == ["STARTED", "proj.sleep"]
    assert "(30,)" in row and "w1@box" in row
    assert b"\x1b[33m" in monitor.raw  # STARTED is yellow

    monitor.press(b"j")
    monitor.wait_for(f"Selected: {task_id} proj.sleep STARTED")
    monitor.press(b"r")
    monitor.wait_for(f"Revoke {task_id}? [y/N]")
    monitor.press(b"y")
    monitor.wait_for(f"Revoked {task_id} (stored; no worker replied within 1s)")
    assert task_id in app.broker.mailbox().load_revoked()
    quit_monitor(monitor)


def test_details_show_every_field_and_the_traceback(
    app: Celery, start: Callable[..., Monitor], worker_online: Callable[..., EventDispatcher]
) -> None:
    ok_id, failed_id = str(uuid.uuid4()), str(uuid.uuid4())
    monitor = start()
    dispatcher = worker_online()
    dispatcher.send_task_event(
        "task-received", uuid=ok_id, name="proj.add", args="(21, 21)", kwargs="{'z': 1}"
    )
    dispatcher.send_task_event("task-succeeded", uuid=ok_id, result="42", runtime=0.25)
    dispatcher.send_task_event(
        "task-received", uuid=failed_id, name="proj.boom", args="()", kwargs="{}"
    )
    dispatcher.send_task_event(
        "task-failed",
        uuid=failed_id,
        exception="ValueError('bad')",
        traceback='Traceback (most recent call last):\n  File "t.py", line 1\nValueError: bad',
    )
    dispatcher.flush()
    monitor.wait_for(ok_id, failed_id, "42 (0.25s)", "ValueError('b...")

    monitor.press(DOWN)  # the newest, the failed task
    monitor.wait_for(f"Selected: {failed_id}")
    monitor.press(ENTER)
    screen = monitor.wait_for(f"Task {failed_id}", "traceback:")
    assert "ValueError: bad" in screen and '  File "t.py", line 1' in screen
    assert "exception:" in screen

    monitor.press(ESC)
    monitor.wait_for(" STATE    NAME ")
    monitor.press(DOWN + ENTER)
    screen = monitor.wait_for(f"Task {ok_id}")
    for label, value in [("args:", "(21, 21)"), ("kwargs:", "{'z': 1}"), ("result:", "42")]:
        assert value in monitor.line_with(label)
    assert "SUCCESS" in monitor.line_with("state:")
    assert "0.250s" in monitor.line_with("runtime:")
    assert "w1@box" in monitor.line_with("worker:")

    monitor.press(b"t")
    monitor.wait_for(f"Terminate (revoke and stop) {ok_id}? [y/N]")
    monitor.press(b"n")
    monitor.wait_for("Cancelled: nothing was revoked.")
    assert app.broker.mailbox().load_revoked() == {}

    monitor.press(b"q")  # back to the list; a second q quits
    monitor.wait_for(" STATE    NAME ")
    monitor.press(b"c")
    monitor.wait_for("Cleared.", "No tasks yet")
    assert ok_id not in monitor.text()
    quit_monitor(monitor)


def test_workers_panel_paging_and_resizes_without_colors(
    start: Callable[..., Monitor], worker_online: Callable[..., EventDispatcher]
) -> None:
    monitor = start("--no-color")
    dispatcher = worker_online()
    dispatcher.send("worker-heartbeat", freq=60.0, active=2, processed=9, loadavg=[1, 2, 3])
    worker_online("w2@box").send("worker-offline")
    ids = [str(uuid.uuid4()) for _ in range(25)]  # more than the 17 rows of the list
    for number, task_id in enumerate(ids):
        dispatcher.send_task_event("task-received", uuid=task_id, name=f"proj.t{number}")
    dispatcher.flush()
    monitor.wait_for("w1@box", "w2@box", "workers: 1/2 online", ids[-1])
    assert "active: 2  processed: 9  load: 1.00 2.00 3.00" in monitor.line_with("ONLINE")
    assert "w2@box" in monitor.line_with("OFFLINE")
    assert ids[0] not in monitor.text()
    monitor.press(b"j" + PAGE_DOWN + PAGE_DOWN)  # the oldest task, at the end of the list
    monitor.wait_for(f"Selected: {ids[0]} proj.t0 RECEIVED")
    assert monitor.line_with(ids[0]).startswith(">") and ids[-1] not in monitor.text()

    monitor.resize(10, 40)
    monitor.wait_for("Workers", "up/down j/k: select")
    assert monitor.text().startswith("celeriac events")
    monitor.resize(5, 20)
    monitor.wait_for("Terminal too small")
    monitor.resize(30, 100)
    monitor.wait_for("ONLINE   w1@box", "c: clear  q: quit")
    assert not re.search(rb"\x1b\[3[1-7]m", monitor.raw)  # --no-color: no state colors
    quit_monitor(monitor, interrupt=True)


def test_monitor_leaves_when_its_terminal_is_gone(start: Callable[..., Monitor]) -> None:
    monitor = start()
    monitor.hang_up()  # reads fail at once from now on; spinning on them would burn a core
    monitor.process.wait(timeout=15)


def test_a_real_workers_running_task_is_terminated_from_the_keyboard(
    extra: ModuleType, start_worker: Any, tmp_path: Path
) -> None:
    worker = start_worker("-c", "1", "-E", "-I", "proj.extra", "--heartbeat-interval", "0.2")
    hostname = worker.output.split()[0]
    monitor = Monitor(str(extra.app.broker_url))  # the project's broker, in the cwd
    try:
        monitor.wait_for(hostname)  # a heartbeat arrived: the monitor is listening
        marker = tmp_path / "started"
        result = extra.sleeper.delay(300, str(marker))

        def state() -> str:
            return (monitor.line_with(result.id).lstrip(" >").split() or [""])[0]  # > selected

        assert wait_until(lambda: state() == "STARTED", timeout=15), monitor.text()
        row = monitor.line_with(result.id)
        assert row.split()[:2] == ["STARTED", "proj.extra.sleeper"] and hostname in row
        assert wait_until(marker.exists)  # the task's body runs in a pool child
        monitor.press(b"j")
        monitor.wait_for(f"Selected: {result.id} proj.extra.sleeper STARTED")
        monitor.press(b"t")
        monitor.wait_for(f"Terminate (revoke and stop) {result.id}? [y/N]")
        monitor.press(b"y")
        monitor.wait_for(f"Terminated {result.id} ({hostname}: ok)")
        assert wait_until(lambda: state() == "REVOKED", timeout=15), monitor.text()
        assert wait_until(lambda: result.state == "REVOKED", timeout=15)
        quit_monitor(monitor)
    finally:
        monitor.close()
