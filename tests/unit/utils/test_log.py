"""celeriac.utils.log: task loggers, the task formatter and the stdout proxy."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from celeriac import Celery
from celeriac.utils.log import (
    LoggingProxy,
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
