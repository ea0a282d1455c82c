"""``celeriac events``: the full-screen terminal monitor (Celery's ``cursesmon``).

Layout, top to bottom: a title bar with counters, the task list (newest event first,
one row per task: state, name, uuid, args, result or runtime, worker, time), the
workers panel (online/offline, active, processed, load), a status line and the keys.
Enter opens the selected task's details (every field and the traceback).

The screen is redrawn from a :class:`~celeriac.events.State` that a background
:class:`~celeriac.events._monitor_feed.EventFeed` keeps up to date; revokes go through
``app.control`` on another thread, so neither ever blocks the keyboard.
"""

from __future__ import annotations

import contextlib
import curses
import threading
import time
from typing import TYPE_CHECKING

from celeriac import __version__, states
from celeriac.events import _monitor_format as fmt
from celeriac.events._monitor_feed import ControlRunner, EventFeed
from celeriac.events.state import State, Task, Worker

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["CursesMonitor", "evtop"]

#: Milliseconds between redraws when no key is pressed.
REFRESH_MS = 200
#: Reads in a row that fail at once before the monitor decides its terminal is gone.
_DEAD_TERMINAL_MISSES = 50
#: The smallest screen worth drawing on.
MIN_HEIGHT, MIN_WIDTH = 8, 30
LIST_KEYS = "up/down j/k: select  Enter: details  r: revoke  t: terminate  c: clear  q: quit"
DETAIL_KEYS = "up/down j/k: scroll  Enter/Esc/q: back  r: revoke  t: terminate"
_ENTER = (curses.KEY_ENTER, 10, 13)
_BACK = (*_ENTER, 27, ord("q"), curses.KEY_BACKSPACE, curses.KEY_LEFT, ord("h"))
# Key -> rows moved; +-2 stands for a page (the height of the list or the details).
_STEPS = {
    curses.KEY_UP: -1,
    ord("k"): -1,
    curses.KEY_DOWN: 1,
    ord("j"): 1,
    curses.KEY_PPAGE: -2,
    curses.KEY_NPAGE: 2,
}
_STATE_COLORS = {
    states.SUCCESS: curses.COLOR_GREEN,
    states.FAILURE: curses.COLOR_RED,
    states.REJECTED: curses.COLOR_RED,
    states.REVOKED: curses.COLOR_MAGENTA,
    states.STARTED: curses.COLOR_YELLOW,
    states.RETRY: curses.COLOR_YELLOW,
    states.RECEIVED: curses.COLOR_CYAN,
}


def put(win: curses.window, y: int, x: int, text: str, attr: int = 0) -> None:
    """Write ``text`` at ``(y, x)``, cut at the window's edge; never raises for position."""
    height, width = win.getmaxyx()
    if not (0 <= y < height and 0 <= x < width):
        return
    text = text[: width - x]
    try:
        win.addstr(y, x, text, attr)
    except curses.error:
        pass  # writing the bottom-right cell moves the cursor off-screen: the text is there
    except UnicodeEncodeError:  # a locale that cannot show some of it: escape those
        ascii_text = text.encode("ascii", "backslashreplace").decode("ascii")[: width - x]
        with contextlib.suppress(curses.error):
            win.addstr(y, x, ascii_text, attr)


class CursesMonitor:
    """The monitor's screen: draws ``state`` and handles the keys.

    Args:
        app: The app whose ``control`` revokes tasks.
        state: The cluster model (read under ``lock``).
        feed: The event receiver thread (its ``error``/``listening`` are shown).
        lock: Guards ``state`` against the feed.
        use_colors: Color task states when the terminal can.
    """

    def __init__(
        self,
        app: Celery,
        state: State,
        feed: EventFeed,
        lock: threading.Lock,
        *,
        use_colors: bool = True,
    ) -> None:
        self.app = app
        self.state = state
        self.feed = feed
        self.lock = lock
        self.use_colors = use_colors
        self.control = ControlRunner(app, self.set_message)
        self.selected: str | None = None
        self.detail_uuid: str | None = None
        self.detail_offset = 0
        self.list_offset = 0
        #: Rows in the task list or the details view, as last drawn (one page).
        self.page = 1
        self.confirm: tuple[str, bool] | None = None
        self.message: tuple[str, bool] | None = None
        self.tasks: list[Task] = []
        self._colors: dict[str, int] = {}

    # -- running ---------------------------------------------------------------------

    def run(self, screen: curses.window) -> None:
        """Draw and handle keys until ``q``, on a screen :func:`evtop` set up."""
        self._setup(screen)
        early_misses = 0
        try:
            while True:
                self.draw(screen)
                asked = time.monotonic()
                key = screen.getch()
                if key == -1 and time.monotonic() - asked < REFRESH_MS / 2000:
                    # No key long before the timeout: reading fails, the terminal is gone
                    # (its window closed). Leave rather than spin on a dead terminal.
                    early_misses += 1
                    if early_misses >= _DEAD_TERMINAL_MISSES:
                        return
                    continue
                early_misses = 0
                if key != -1 and not self.handle_key(key):
                    return
        finally:
            self.control.close()

    def _setup(self, screen: curses.window) -> None:
        curses.set_escdelay(25)
        with contextlib.suppress(curses.error):  # a cursor that cannot hide stays, harmless
            curses.curs_set(0)
        screen.keypad(True)
        screen.timeout(REFRESH_MS)
        if self.use_colors and curses.has_colors():
            curses.start_color()
            background = -1
            try:
                curses.use_default_colors()
            except curses.error:
                background = curses.COLOR_BLACK  # no "default" color: draw on black
            for number, (state, color) in enumerate(_STATE_COLORS.items(), start=1):
                curses.init_pair(number, color, background)
                self._colors[state] = curses.color_pair(number)

    def set_message(self, text: str, is_error: bool = False) -> None:
        """Show ``text`` on the status line (until the next one)."""
        self.message = (text, is_error)

    # -- keys ------------------------------------------------------------------------

    def handle_key(self, key: int) -> bool:
        """Act on one key; ``False`` means quit."""
        if key == curses.KEY_RESIZE:
            return True
        if self.confirm is not None:
            self._answer(key)
            return True
        if self.detail_uuid is not None:
            self._detail_key(key)
            return True
        if key == ord("q"):
            return False
        if key in _STEPS:
            self._move(self._step(key))
        elif key in _ENTER or key == ord("i"):
            if self._has_selection():
                self.detail_uuid, self.detail_offset = self.selected, 0
        elif key in (ord("r"), ord("t")):
            if self._has_selection():
                self._ask(self.selected or "", terminate=key == ord("t"))
        elif key == ord("c"):
            with self.lock:
                self.state.clear()
            self.selected, self.list_offset = None, 0
            self.set_message("Cleared.")
        return True

    def _detail_key(self, key: int) -> None:
        if key in _BACK:
            self.detail_uuid = None
        elif key in _STEPS:
            self.detail_offset = max(0, self.detail_offset + self._step(key))
        elif key in (ord("r"), ord("t")) and self.detail_uuid is not None:
            self._ask(self.detail_uuid, terminate=key == ord("t"))

    def _step(self, key: int) -> int:
        step = _STEPS[key]
        return step if abs(step) == 1 else step // 2 * max(1, self.page - 1)

    def _has_selection(self) -> bool:
        if self.selected is None:
            curses.beep()
            self.set_message("No task selected: use up/down (j/k) first.", True)
            return False
        return True

    def _move(self, step: int) -> None:
        uuids = [task.uuid for task in self.tasks]
        if not uuids:
            curses.beep()
            return
        if self.selected not in uuids:
            self.selected = uuids[0]
        else:
            index = uuids.index(self.selected) + step
            self.selected = uuids[max(0, min(index, len(uuids) - 1))]
        self.message = None

    def _ask(self, uuid: str, *, terminate: bool) -> None:
        self.confirm = (uuid, terminate)
        verb = "Terminate (revoke and stop)" if terminate else "Revoke"
        self.set_message(f"{verb} {uuid}? [y/N]")

    def _answer(self, key: int) -> None:
        uuid, terminate = self.confirm or ("", False)
        self.confirm = None
        if key in (ord("y"), ord("Y")):
            self.set_message(f"{'Terminating' if terminate else 'Revoking'} {uuid}...")
            self.control.revoke(uuid, terminate=terminate)
        else:
            self.set_message("Cancelled: nothing was revoked.")

    # -- drawing ---------------------------------------------------------------------

    def draw(self, screen: curses.window) -> None:
        """Redraw the whole screen (curses sends only what changed)."""
        with self.lock:
            self.tasks = [task for _, task in self.state.tasks_by_time()]
            workers = list(self.state.workers.values())
            counts = (self.state.event_count, self.state.task_count)
            selected = self.state.tasks.get(self.selected) if self.selected else None
        if selected is None:
            self.selected = None
        screen.erase()
        height, width = screen.getmaxyx()
        if height < MIN_HEIGHT or width < MIN_WIDTH:
            put(screen, 0, 0, f"Terminal too small ({width}x{height}); q quits.")
        else:
            self._draw_title(screen, width, fmt.summary(*counts, workers))
            if self.detail_uuid is not None:
                self._draw_details(screen, height, width)
            else:
                self._draw_list(screen, height, width, workers)
            self._draw_status(screen, height, width, selected)
        screen.refresh()

    def _draw_title(self, screen: curses.window, width: int, summary: str) -> None:
        title = f"celeriac events {__version__}"
        if self.feed.error:
            summary = f"broker error: {self.feed.error}"
        elif not self.feed.listening:
            summary = "connecting..."
        bar = title + summary.rjust(max(0, width - len(title)))
        put(screen, 0, 0, bar.ljust(width), curses.A_REVERSE)

    def _draw_list(
        self, screen: curses.window, height: int, width: int, workers: list[Worker]
    ) -> None:
        shown_workers = min(len(workers), max(1, (height - MIN_HEIGHT) // 3 + 1))
        rows = self.page = height - 5 - max(1, shown_workers)
        columns = fmt.column_widths(width - 1)
        put(screen, 1, 0, " " + fmt.format_header(columns), curses.A_BOLD | curses.A_UNDERLINE)
        self._scroll_to_selection(rows)
        now = time.time()
        if not self.tasks:
            put(screen, 2, 1, "No tasks yet: waiting for task events (workers started with -E).")
        for line, task in enumerate(self.tasks[self.list_offset : self.list_offset + rows]):
            self._draw_row(screen, 2 + line, task, columns, now)
        top = height - 3 - max(1, shown_workers)
        title = fmt.workers_title(len(workers), shown_workers)
        put(screen, top, 0, title.ljust(width), curses.A_BOLD | curses.A_UNDERLINE)
        if not workers:
            put(screen, top + 1, 1, "No workers seen yet.")
        for line, worker in enumerate(fmt.by_status(workers)[:shown_workers]):
            attr = self._colors.get(states.SUCCESS if worker.alive else states.FAILURE, 0)
            put(screen, top + 1 + line, 1, fmt.worker_line(worker), attr)

    def _scroll_to_selection(self, rows: int) -> None:
        uuids = [task.uuid for task in self.tasks]
        index = uuids.index(self.selected) if self.selected in uuids else 0
        if index < self.list_offset:
            self.list_offset = index
        elif index >= self.list_offset + rows:
            self.list_offset = index - rows + 1
        self.list_offset = max(0, min(self.list_offset, len(uuids) - rows))

    def _draw_row(
        self,
        screen: curses.window,
        y: int,
        task: Task,
        columns: list[tuple[fmt.Column, int]],
        now: float,
    ) -> None:
        selected = task.uuid == self.selected
        attr = curses.A_REVERSE if selected else 0
        put(screen, y, 0, (">" if selected else " ") + fmt.format_row(task, columns, now), attr)
        color = self._colors.get(task.state)
        if color is not None:
            put(screen, y, 1, fmt.abbr(task.state, columns[0][1]), color | attr | curses.A_BOLD)

    def _draw_details(self, screen: curses.window, height: int, width: int) -> None:
        put(screen, 1, 1, f"Task {self.detail_uuid}", curses.A_BOLD)
        with self.lock:
            task = self.state.tasks.get(self.detail_uuid or "")
            lines = fmt.detail_lines(task, width - 2) if task is not None else []
        if task is None:
            put(screen, 3, 1, "This task is no longer in memory (cleared).")
            return
        rows = self.page = height - 5
        self.detail_offset = max(0, min(self.detail_offset, len(lines) - rows))
        for y, (label, text) in enumerate(lines[self.detail_offset : self.detail_offset + rows]):
            put(screen, 3 + y, 1, label, curses.A_BOLD)
            attr = self._colors.get(task.state, 0) if label.startswith("state:") else 0
            put(screen, 3 + y, 1 + len(label), text, attr)

    def _draw_status(
        self, screen: curses.window, height: int, width: int, selected: Task | None
    ) -> None:
        if self.message is not None:
            text, is_error = self.message
            attr = self._colors.get(states.FAILURE, 0) if is_error else curses.A_BOLD
        elif selected is not None:
            name = fmt.clean(selected.name or "?")
            text, attr = f"Selected: {selected.uuid} {name} {selected.state}", 0
        else:
            text, attr = "No task selected.", 0
        put(screen, height - 2, 1, fmt.abbr(text, width - 2), attr)
        keys = DETAIL_KEYS if self.detail_uuid is not None else LIST_KEYS
        put(screen, height - 1, 0, fmt.abbr(keys, width - 1).ljust(width - 1), curses.A_DIM)


def evtop(app: Celery, *, use_colors: bool = True) -> None:
    """Run the terminal monitor on the current terminal until ``q`` or Ctrl+C."""
    lock = threading.Lock()
    state = State()
    feed = EventFeed(app, state, lock)
    feed.start()
    try:
        screen = curses.initscr()
        try:
            curses.noecho()
            curses.cbreak()
            CursesMonitor(app, state, feed, lock, use_colors=use_colors).run(screen)
        finally:
            # As curses.wrapper, minus its start_color(): without colors the terminal
            # keeps its own foreground and background.
            screen.keypad(False)
            curses.echo()
            curses.nocbreak()
            curses.endwin()
    finally:
        feed.stop()
