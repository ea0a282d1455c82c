"""Records the signals celeriac sends: one JSON line per signal, in the file $SIGNAL_LOG.

A file, so signals sent in a prefork child or in a worker subprocess reach the test.
Each line has the signal's name, the sender, the pid and process name where it was
sent, and each keyword argument described by its type (and its value when that is
plain data), so a test can check names, types and values against Celery's.

Used in-process by the unit tests and copied into the demo project (as
``proj/signal_log.py``) by the end-to-end tests. ``$SIGNAL_LOG_SKIP`` names signals
(comma-separated) not to connect: a ``setup_logging`` receiver replaces the worker's
own logging set-up, as in Celery, so a run that wants the worker's logging skips it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any

from celeriac import signals
from celeriac.signals import Signal

UID = "tests.signal_log"


def describe(value: Any) -> dict[str, Any]:
    """``{"type": ..., "value": ...}`` for plain data, ``{"type": ..., "name": ...}`` else."""
    kind = type(value).__name__
    if value is None or isinstance(value, str | int | float | bool | list | tuple | dict):
        try:
            return {"type": kind, "value": json.loads(json.dumps(value))}
        except (TypeError, ValueError):
            pass
    name = getattr(value, "name", None)
    return {"type": kind, "name": name if isinstance(name, str) else None}


def record(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Append one line to $SIGNAL_LOG (a no-op when it is not set)."""
    path = os.environ.get("SIGNAL_LOG")
    if not path:
        return
    line = {
        "signal": signal.name,
        "sender": describe(sender),
        "pid": os.getpid(),
        "process": multiprocessing.current_process().name,
        "kwargs": {key: describe(value) for key, value in kwargs.items()},
    }
    with open(path, "a", encoding="utf-8") as out:  # one short append per line
        out.write(json.dumps(line) + "\n")
    if signal is signals.setup_logging:  # it replaces the worker's logging: do its job
        logging.basicConfig(level=kwargs["loglevel"], format=kwargs["format"])


def every_signal() -> list[Signal]:
    """Every signal celeriac defines."""
    found = (getattr(signals, name) for name in signals.__all__)
    return [signal for signal in found if isinstance(signal, Signal)]


def connect_all() -> None:
    """Record every signal, except those named in $SIGNAL_LOG_SKIP."""
    skip = set(filter(None, os.environ.get("SIGNAL_LOG_SKIP", "").split(",")))
    for signal in every_signal():
        if signal.name not in skip:
            signal.connect(record, weak=False, dispatch_uid=(UID, signal.name))


def disconnect_all() -> None:
    """Undo :func:`connect_all`."""
    for signal in every_signal():
        signal.disconnect(dispatch_uid=(UID, signal.name))


def read(path: str | Path) -> list[dict[str, Any]]:
    """The lines recorded so far, in order."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1]]  # whole lines only
