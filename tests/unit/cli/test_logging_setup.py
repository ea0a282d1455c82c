"""The command line's logging set-up: colours, the task logger's handler, hijacking."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.utils.log import ColorFormatter as CeleryColorFormatter

from celeriac.app.config import Settings
from celeriac.cli.base import setup_logging, supports_color
from celeriac.utils.log import ColorFormatter, task_logger


@pytest.fixture
def logging_state() -> Iterator[None]:
    """Put the root and task loggers back as they were (setup_logging changes them)."""
    root = logging.getLogger()
    saved = [(one, list(one.handlers), one.level, one.propagate) for one in (root, task_logger)]
    yield
    for logger, handlers, level, propagate in saved:
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_colours_are_celerys(level: str) -> None:
    record = logging.LogRecord("x", getattr(logging, level), "p", 1, "hi %s", ("there",), None)
    fmt = "%(levelname)s %(message)s"
    assert ColorFormatter(fmt).format(record) == CeleryColorFormatter(fmt).format(record)
    assert ColorFormatter(fmt, use_color=False).format(record) == f"{level} hi there"


def test_colour_only_on_a_terminal_and_never_in_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    main, other = os.openpty()
    try:
        with os.fdopen(other, "w") as terminal:
            monkeypatch.setattr(sys, "stderr", terminal)
            assert supports_color(None, None) and supports_color(True, None)
            assert not supports_color(False, None)
            assert not supports_color(None, "worker.log")
    finally:
        os.close(main)
    read, write = os.pipe()
    with os.fdopen(read) as _, os.fdopen(write, "w") as pipe:
        monkeypatch.setattr(sys, "stderr", pipe)
        assert not supports_color(None, None) and not supports_color(True, None)


def test_the_task_logger_gets_its_own_handler_and_format(
    logging_state: None, tmp_path: Path
) -> None:
    conf: Any = Settings()
    conf.worker_task_log_format = "T %(task_name)s[%(task_id)s] %(message)s"
    conf.worker_log_format = "W %(message)s"
    logfile = tmp_path / "worker.log"
    assert setup_logging("INFO", str(logfile), conf) is True
    logging.getLogger("tests.cli.somewhere").warning("plain")
    logging.getLogger("celeriac.task.tests").warning("from a task logger")
    for handler in [*logging.getLogger().handlers, *task_logger.handlers]:
        handler.flush()
    assert logfile.read_text().split("\n")[-3:] == ["W plain", "T ???[???] from a task logger", ""]
    assert task_logger.propagate is False


def test_hijack_false_keeps_a_configured_root(logging_state: None, tmp_path: Path) -> None:
    root = logging.getLogger()
    own = logging.FileHandler(tmp_path / "own.log")
    root.addHandler(own)
    conf: Any = Settings()
    conf.worker_hijack_root_logger = False
    setup_logging("INFO", str(tmp_path / "worker.log"), conf)
    assert own in root.handlers
    conf.worker_hijack_root_logger = True
    setup_logging("INFO", str(tmp_path / "worker.log"), conf)
    assert own not in root.handlers and len(root.handlers) == 1
