"""The remote-control commands: name, kind, arguments and help, in one table.

The CLI reads it to parse ``celeriac inspect|control COMMAND args...`` and to list the
commands; the worker's handlers (``worker/control.py``) implement exactly these names.
Pure data: no worker code here.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["COMMANDS", "RemoteCommand", "commands_of"]

Kind = Literal["inspect", "control"]


def _float_or_none(value: str) -> float | None:
    return None if value.lower() in ("none", "null", "") else float(value)


def _signal_name(value: str) -> str:
    """A signal as the workers take it (``SIGKILL``, ``KILL``, ``9``), checked here.

    Raises:
        ValueError: no such signal.
    """
    upper = value.upper()
    try:
        if upper.isdigit():
            signal.Signals(int(upper))
        else:
            signal.Signals[upper if upper.startswith("SIG") else f"SIG{upper}"]
    except (KeyError, ValueError) as exc:
        raise ValueError(f"no such signal: {value}") from exc
    return value


def _rate(value: str) -> Any:
    return None if value.lower() in ("none", "null", "") else value


@dataclass(frozen=True, slots=True)
class RemoteCommand:
    """One command.

    Attributes:
        name: The method name on the wire.
        kind: ``inspect`` (read-only) or ``control`` (changes the worker).
        help: One line for ``--list`` and ``--help``.
        args: Positional CLI arguments: (name, converter) pairs.
        variadic: The argument collecting the rest of the CLI words, if any.
        signature: How the arguments read in ``--list``.
        options: CLI options among the words: (option, argument name, converter)
            triples; with no converter the option is a flag that sets ``True``.
    """

    name: str
    kind: Kind
    help: str
    args: tuple[tuple[str, Callable[[str], Any]], ...] = ()
    variadic: str | None = None
    signature: str = ""
    options: tuple[tuple[str, str, Callable[[str], Any] | None], ...] = ()


COMMANDS: dict[str, RemoteCommand] = {
    c.name: c
    for c in (
        RemoteCommand("active", "inspect", "List of tasks currently being executed."),
        RemoteCommand(
            "active_queues", "inspect", "List the task queues a worker is consuming from."
        ),
        RemoteCommand("clock", "inspect", "Get current logical clock value."),
        RemoteCommand(
            "conf",
            "inspect",
            "List configuration.",
            (("with_defaults", bool),),
            signature="[include_defaults=False]",
        ),
        RemoteCommand("memsample", "inspect", "Sample current RSS memory usage."),
        RemoteCommand("ping", "inspect", "Ping worker(s)."),
        RemoteCommand(
            "query_task",
            "inspect",
            "Query for task information by id.",
            variadic="ids",
            signature="[id1 [id2 [... [idN]]]]",
        ),
        RemoteCommand(
            "registered",
            "inspect",
            "List of registered tasks.",
            variadic="taskinfoitems",
            signature="[attr1 [attr2 [... [attrN]]]]",
        ),
        RemoteCommand(
            "report", "inspect", "Information about the celeriac installation for bug reports."
        ),
        RemoteCommand(
            "reserved",
            "inspect",
            "List of currently reserved tasks, not including scheduled/active.",
        ),
        RemoteCommand("revoked", "inspect", "List of revoked task-ids."),
        RemoteCommand("scheduled", "inspect", "List of currently scheduled ETA/countdown tasks."),
        RemoteCommand("stats", "inspect", "Request worker statistics/information."),
        RemoteCommand(
            "add_consumer",
            "control",
            "Tell worker(s) to consume from task queue by name.",
            (("queue", str), ("exchange", str), ("exchange_type", str), ("routing_key", str)),
            signature="<queue> [exchange [type [routing_key]]]",
        ),
        RemoteCommand(
            "cancel_consumer",
            "control",
            "Tell worker(s) to stop consuming from task queue by name.",
            (("queue", str),),
            signature="<queue>",
        ),
        RemoteCommand(
            "rate_limit",
            "control",
            "Tell worker(s) to modify the rate limit for a task by type.",
            (("task_name", str), ("rate_limit", _rate)),
            signature="<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>",
        ),
        RemoteCommand(
            "revoke",
            "control",
            "Revoke task by task id (or list of ids).",
            variadic="task_id",
            signature="[id1 [id2 [... [idN]]]] [--terminate [--signal SIG]]",
            options=(("--terminate", "terminate", None), ("--signal", "signal", _signal_name)),
        ),
        RemoteCommand("shutdown", "control", "Shutdown worker(s)."),
        RemoteCommand("enable_events", "control", "Tell worker(s) to send task-related events."),
        RemoteCommand(
            "disable_events", "control", "Tell worker(s) to stop sending task-related events."
        ),
        RemoteCommand(
            "heartbeat", "control", "Tell worker(s) to send event heartbeat immediately."
        ),
        RemoteCommand(
            "autoscale",
            "control",
            "Modify autoscale settings.",
            (("max", int), ("min", int)),
            signature="[max [min]]",
        ),
        RemoteCommand(
            "pool_grow",
            "control",
            "Grow pool by n processes/threads.",
            (("n", int),),
            signature="[N=1]",
        ),
        RemoteCommand(
            "pool_shrink",
            "control",
            "Shrink pool by n processes/threads.",
            (("n", int),),
            signature="[N=1]",
        ),
        RemoteCommand("pool_restart", "control", "Restart execution pool."),
        RemoteCommand(
            "terminate",
            "control",
            "Terminate task by task id (or list of ids).",
            (("signal", _signal_name),),
            variadic="task_id",
            signature="<signal> [id1 [id2 [... [idN]]]]",
        ),
        RemoteCommand(
            "time_limit",
            "control",
            "Tell worker(s) to modify the time limit for task by type.",
            (("task_name", str), ("soft", _float_or_none), ("hard", _float_or_none)),
            signature="<task_name> <soft_secs> [hard_secs]",
        ),
    )
}


def commands_of(kind: Kind, available: set[str] | None = None) -> dict[str, RemoteCommand]:
    """The commands of one kind, sorted by name (only ``available`` ones when given)."""
    return {
        name: command
        for name, command in sorted(COMMANDS.items())
        if command.kind == kind and (available is None or name in available)
    }
