"""celeriac.utils.log: task loggers, the task formatter and the stdout proxy."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celery
from celeriac.utils.log import (
    ColorFormatter,
    LoggingProxy,
    LogSite,
    TaskFormatter,
    base_logger,
    get_logger,
    get_task_logger,
    task_logger,
)

TASK_FORMAT = "%(task_name)s[%(task_id)s]: %(message)s"


class Collect(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(formatter or logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_task_loggers_are_children_of_the_task_logger() -> None:
    logger = get_task_logger("proj.tasks.hooks")
    assert logger.name == "proj.tasks.hooks" and logger.parent is task_logger
    assert task_logger.name == "celeriac.task" and task_logger.parent is base_logger
    assert get_task_logger("proj.tasks.hooks") is logger


@pytest.mark.parametrize("name", ["celeriac", "celeriac.task", "celery", "celery.task"])
def test_the_task_loggers_own_names_are_reserved(name: str) -> None:
    with pytest.raises(RuntimeError, match="is reserved"):
        get_task_logger(name)


def test_get_logger_leaves_a_top_level_logger_under_the_root() -> None:
    assert get_logger("toplevel_for_test").parent is logging.root
    logging.getLogger("pkg_for_test")
    assert get_logger("pkg_for_test.mod").parent is base_logger  # as Celery's get_logger


def test_the_task_formatter_names_the_running_task_or_says_unknown() -> None:
    app = Celery("logs", backend="cache+memory://", set_as_current=False)
    logger = get_task_logger("tests.unit.utils.logs")
    collect = Collect(TaskFormatter(TASK_FORMAT, use_color=False))
    task_logger.addHandler(collect)
    try:
        logger.warning("outside")

        @app.task(name="proj.speak")
        def speak() -> None:
            logger.warning("inside")

        result = speak.apply()
    finally:
        task_logger.removeHandler(collect)
    assert collect.lines == ["???[???]: outside", f"proj.speak[{result.id}]: inside"]


def test_the_proxy_logs_each_printed_line_once() -> None:
    logger = logging.getLogger("tests.unit.utils.redirected")
    collect = Collect()
    logger.addHandler(collect)
    logger.propagate = False
    try:
        proxy = LoggingProxy(logger, "ERROR")
        print("one", 2, file=proxy)  # print writes "one", " ", "2", "\n"
        print("", file=proxy)  # a blank line is dropped
        proxy.writelines(["three\nfo", "ur"])
        proxy.flush()
    finally:
        logger.removeHandler(collect)
    assert collect.lines == ["ERROR one 2", "ERROR three", "ERROR four"]
    assert not proxy.isatty() and proxy.fileno() is None


def test_a_write_while_logging_goes_to_the_real_stderr(capfd: Any) -> None:
    logger = logging.getLogger("tests.unit.utils.looping")

    class Loops(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            proxy.write("from the handler\n")  # as a handler's own error report would

    proxy = LoggingProxy(logger)
    logger.addHandler(Loops())
    logger.propagate = False
    proxy.write("once\n")
    assert "from the handler" in capfd.readouterr().err


def _record_at(created: float) -> logging.LogRecord:
    record = logging.LogRecord("x", logging.INFO, "p", 1, "hi", (), None)
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
    return record


@pytest.mark.parametrize("datefmt", [None, "%H:%M:%S", "%d/%m %H:%M"])
def test_the_formatter_writes_the_time_as_logging_does(datefmt: str | None) -> None:
    """Kept for the rest of a second, the time text is still logging's to the character."""
    ours = ColorFormatter("%(asctime)s %(message)s", use_color=False)
    ours.datefmt = datefmt
    plain = logging.Formatter("%(asctime)s %(message)s", datefmt)
    # Across second (and minute) boundaries, back and forth, and twice in one second.
    for created in (
        1_700_000_059.001,
        1_700_000_059.999,
        1_700_000_060.0,
        1_700_000_059.5,
        1_700_000_060.25,
        1_700_000_060.75,
        1_800_000_000.123,
    ):
        record = _record_at(created)
        assert ours.format(record) == plain.format(record)


def test_the_formatter_follows_a_changed_converter_and_time_format() -> None:
    ours = ColorFormatter("%(asctime)s", use_color=False)
    record = _record_at(1_700_000_000.5)
    assert ours.formatTime(record) == logging.Formatter().formatTime(record)
    ours.converter = time.gmtime  # the usual way to log in UTC
    plain = logging.Formatter()
    plain.converter = time.gmtime
    assert ours.formatTime(record) == plain.formatTime(record)
    ours.default_time_format = plain.default_time_format = "%Y%m%dT%H%M%S"
    assert ours.formatTime(record) == plain.formatTime(record)
    # A converter of its own may use the fraction of the second: never kept.
    ours.converter = plain.converter = lambda seconds: time.gmtime(seconds * 2)  # type: ignore[method-assign,assignment]
    assert ours.formatTime(_record_at(1_700_000_000.2)) == plain.formatTime(
        _record_at(1_700_000_000.2)
    )
    assert ours.formatTime(_record_at(1_700_000_000.7)) == plain.formatTime(
        _record_at(1_700_000_000.7)
    )


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def site_logger() -> Iterator[tuple[logging.Logger, Records]]:
    logger = logging.getLogger("tests.unit.utils.site")
    records = Records()
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, records
    logger.removeHandler(records)


def _log_both_ways(logger: logging.Logger, site: LogSite, n: int) -> None:
    site("a", n, extra={"task_id": "t1"})
    logger.info("Task %s[%s] received", "a", n, extra={"task_id": "t1"})


def test_a_log_site_makes_the_record_logger_info_makes(
    site_logger: tuple[logging.Logger, Records],
) -> None:
    logger, records = site_logger
    site = LogSite(logger, logging.INFO, "Task %s[%s] received")
    for n in range(3):  # the caller is looked up once, and stays right
        _log_both_ways(logger, site, n)
    by_site, by_info = records.records[0::2], records.records[1::2]
    for one, other in zip(by_site, by_info, strict=True):
        assert one.getMessage() == other.getMessage()
        assert (one.pathname, one.funcName, one.module) == (
            other.pathname,
            other.funcName,
            other.module,
        )
        assert one.lineno == other.lineno - 1  # the line above, in the same function
        assert (one.name, one.levelno, one.task_id) == (other.name, other.levelno, "t1")  # type: ignore[attr-defined]
    assert by_site[0].funcName == "_log_both_ways" and by_site[0].pathname == __file__


def test_a_log_site_logs_nothing_below_its_level_and_honours_no_caller_lookup(
    site_logger: tuple[logging.Logger, Records], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, records = site_logger
    quiet = LogSite(logger, logging.DEBUG, "not %s")
    assert not quiet.enabled()
    quiet("logged")
    assert records.records == []
    monkeypatch.setattr(logging, "_srcfile", None)  # caller lookup turned off
    site = LogSite(logger, logging.INFO, "said %s")
    assert site.enabled()
    site("this")
    (record,) = records.records
    assert (record.getMessage(), record.pathname, record.lineno) == (
        "said this",
        "(unknown file)",
        0,
    )
