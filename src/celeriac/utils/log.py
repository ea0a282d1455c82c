"""Loggers for tasks and modules, as Celery's ``celery.utils.log`` has them.

:func:`get_task_logger` gives a logger whose records name the task running in this
thread (or prefork child) when formatted by a :class:`TaskFormatter`, as the worker's
``worker_task_log_format`` does: ``%(task_name)s[%(task_id)s]``, or ``???`` for both
outside a task. Task loggers are children of ``celeriac.task``, which the worker gives
its own handler (Celery's ``celery.task``); other loggers from :func:`get_logger` that
are not directly under the root are put under ``celeriac``.

Nothing here installs a handler: only the ``celeriac`` command configures logging.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Mapping

from celeriac import _state

__all__ = [
    "ColorFormatter",
    "LogSite",
    "LoggingProxy",
    "TaskFormatter",
    "base_logger",
    "get_logger",
    "get_task_logger",
    "task_logger",
]

#: The parent of celeriac's own loggers.
base_logger = logging.getLogger("celeriac")
#: The parent of every task logger.
task_logger = logging.getLogger("celeriac.task")

RESERVED_LOGGER_NAMES = frozenset({"celeriac", "celeriac.task", "celery", "celery.task"})


def _is_under(logger: logging.Logger, parent: logging.Logger) -> bool:
    node: logging.Logger | None = logger
    while node is not None:
        if node is parent:
            return True
        node = node.parent
    return False


def _under(parent: logging.Logger, logger: logging.Logger) -> logging.Logger:
    if not _is_under(logger, parent):
        logger.parent = parent
    return logger


def get_logger(name: str) -> logging.Logger:
    """The logger ``name``; put under ``celeriac`` unless the root is its parent."""
    logger = logging.getLogger(name)
    if logging.root not in (logger, logger.parent) and logger is not base_logger:
        logger = _under(base_logger, logger)
    return logger


def get_task_logger(name: str) -> logging.Logger:
    """The logger ``name`` for use in tasks: a child of ``celeriac.task``.

    Raises:
        RuntimeError: ``name`` is one of the reserved names (``celeriac``,
            ``celeriac.task`` and Celery's two), as in Celery.
    """
    if name in RESERVED_LOGGER_NAMES:
        raise RuntimeError(f"Logger name {name!r} is reserved!")
    return _under(task_logger, get_logger(name))


#: Celery's colours by level (bold ANSI): blue, yellow, red and magenta; INFO is plain.
LEVEL_COLORS = {
    "DEBUG": "\033[1;34m",
    "WARNING": "\033[1;33m",
    "ERROR": "\033[1;31m",
    "CRITICAL": "\033[1;35m",
}
RESET = "\033[0m"


#: Converters whose result depends on the whole second only (``Formatter.converter``).
_SECOND_CONVERTERS = (time.localtime, time.gmtime)


class ColorFormatter(logging.Formatter):
    """A formatter that colours each line by its level, as Celery's does on a terminal."""

    def __init__(self, fmt: str | None = None, use_color: bool = True) -> None:
        super().__init__(fmt)
        self.use_color = use_color
        # The last second's date and time text, with what it was made from: a worker
        # logs many lines a second, and the text changes once a second.
        self._second: tuple[tuple[int, str, object], str] = ((-1, "", None), "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as :class:`logging.Formatter` writes it, made once a second."""
        converter = self.converter
        if converter not in _SECOND_CONVERTERS:
            return super().formatTime(record, datefmt)
        time_format = datefmt or self.default_time_format
        key = (int(record.created), time_format, converter)
        cached = self._second  # one read: another thread may replace it meanwhile
        if cached[0] != key:
            cached = self._second = (key, time.strftime(time_format, converter(record.created)))
        if not datefmt and self.default_msec_format:
            return self.default_msec_format % (cached[1], record.msecs)
        return cached[1]

    def format(self, record: logging.LogRecord) -> str:
        """The record formatted, coloured by its level when colours are on."""
        line = super().format(record)
        color = LEVEL_COLORS.get(record.levelname) if self.use_color else None
        return f"{color}{line}{RESET}" if color else line


class TaskFormatter(ColorFormatter):
    """A formatter that fills ``task_name`` and ``task_id`` from the running task.

    Outside a task both are ``???`` (unless the record already carries them).
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record formatted, with the running task's name and id."""
        running = _state.current_task_and_request()
        if running is not None:
            record.__dict__.update(task_id=running[1].id, task_name=running[0].name)
        else:
            record.__dict__.setdefault("task_name", "???")
            record.__dict__.setdefault("task_id", "???")
        return super().format(record)


class LogSite:
    """One log call made for every task (the worker's ``received`` and ``succeeded`` lines).

    For each record, :mod:`logging` finds the code that logged it by walking the stack
    (``findCaller``). A site is called from one line of code only, so it finds that line
    the first time and keeps it. Otherwise the record is the one ``logger.log(level,
    msg, *args, extra=extra)`` makes, and goes through the same filters and handlers.
    """

    __slots__ = ("_caller", "level", "logger", "msg")

    def __init__(self, logger: logging.Logger, level: int, msg: str) -> None:
        self.logger = logger
        self.level = level
        self.msg = msg
        self._caller: tuple[str, int, str, str | None] | None = None

    def enabled(self) -> bool:
        """Whether the logger logs this site's level (to skip building costly arguments)."""
        return self.logger.isEnabledFor(self.level)

    def __call__(self, *args: object, extra: Mapping[str, object] | None = None) -> None:
        """Log ``msg % args`` at this site's level, if the logger is enabled for it."""
        logger = self.logger
        if not logger.isEnabledFor(self.level):
            return
        # No lookup when it is turned off (logging._srcfile), as logging itself checks.
        caller = self._caller if logging._srcfile else _UNKNOWN_CALLER
        if caller is None:
            # What findCaller answers for a caller outside logging (its frame walk, and
            # the depth it starts at, differ between Python versions).
            frame = sys._getframe(1)
            code = frame.f_code
            caller = self._caller = (code.co_filename, frame.f_lineno, code.co_name, None)
        path, line, function, _ = caller
        record = logger.makeRecord(
            logger.name, self.level, path, line, self.msg, args, None, function, extra
        )
        logger.handle(record)


_UNKNOWN_CALLER: tuple[str, int, str, str | None] = (
    "(unknown file)",
    0,
    "(unknown function)",
    None,
)


class LoggingProxy:
    """A file-like object that logs what is written to it (``worker_redirect_stdouts``).

    Each line written (``print()`` writes its pieces one by one: they are gathered up to
    the newline, per thread) is one log record of ``loglevel`` on ``logger``; blank
    lines are dropped. A write made while logging (a handler reporting its own error)
    goes to the original ``sys.__stderr__`` instead, so it cannot loop.
    """

    mode = "w"
    name = None
    closed = False

    def __init__(self, logger: logging.Logger, loglevel: int | str = logging.WARNING) -> None:
        self.logger = logger
        self.loglevel = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
        # By thread (or greenlet) id, not a threading.local: a green local cannot be
        # read while the interpreter exits, when Python flushes sys.stdout.
        self._pending: dict[int, str] = {}
        self._busy: set[int] = set()

    def write(self, data: str) -> int:
        """Log each complete line of what was written so far; return ``len(data)``."""
        ident = threading.get_ident()
        if ident in self._busy:
            if sys.__stderr__ is not None:
                sys.__stderr__.write(data)
            return len(data)
        *lines, rest = (self._pending.pop(ident, "") + data).split("\n")
        if rest:
            self._pending[ident] = rest
        for line in lines:
            self._log(ident, line)
        return len(data)

    def _log(self, ident: int, line: str) -> None:
        if not line.strip():
            return
        self._busy.add(ident)
        try:
            self.logger.log(self.loglevel, line)
        finally:
            self._busy.discard(ident)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Log what this thread wrote after its last newline."""
        if self._pending:
            ident = threading.get_ident()
            self._log(ident, self._pending.pop(ident, ""))

    def isatty(self) -> bool:
        """Never a terminal."""
        return False

    def fileno(self) -> None:
        """No file descriptor (as Celery's proxy)."""
        return None
