"""``celeriac worker``: start a worker node (in the foreground, or detached with ``-D``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from celeriac import signals
from celeriac._internal.daemon import (
    StartupReport,
    drop_privileges,
    node_format,
    parse_umask,
    pidlock,
    spawn_daemon,
)
from celeriac._internal.naming import default_nodename
from celeriac.cli.base import (
    COMMA_LIST,
    LOG_LEVEL_METAVAR,
    LOG_LEVELS,
    CLIContext,
    GroupedCommand,
    GroupedOption,
    child_log_file,
    comma_list,
    redirect_stdouts,
    setup_logging,
)
from celeriac.exceptions import CeleriacError
from celeriac.pools.registry import POOL_NAMES, pool_class

__all__ = ["worker"]

F = TypeVar("F", bound=Callable[..., Any])
STATUS_OPTION = "--detached-status-fd"

_EPILOG_EXAMPLES = """\b
Examples
--------

\b
$ celeriac --app=proj worker -l INFO
$ celeriac -A proj worker -l INFO -Q hipri,lopri
$ celeriac -A proj worker --concurrency=4
$ celeriac worker --autoscale=10,0
"""


def _option(group: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*decls, cls=GroupedOption, help_group=group, **kwargs)


def _pool_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if value.lower() == "custom":  # the class comes from settings, checked at start-up
        return "custom"
    try:
        pool_class(value.lower())
    except CeleriacError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc
    return value.lower()


def _autoscale(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from celeriac.worker.autoscale import parse_autoscale

    try:
        return None if value is None else parse_autoscale(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _umask(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    try:
        return parse_umask(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an octal number: {value!r}", ctx, param) from exc


WORKER, POOL, QUEUE = "Worker Options", "Pool Options", "Queue Options"
FEATURES, BEAT, DAEMON = "Features", "Embedded Beat Options", "Daemonization Options"


@click.command(cls=GroupedCommand, help=f"Start worker instance.\n\n{_EPILOG_EXAMPLES}")
@_option(
    WORKER,
    "-n",
    "--hostname",
    help="Set custom hostname (e.g., 'w1@%h'). Expands: %h (hostname), %n (name) and %d (domain).",
)
@_option(WORKER, "-D", "--detach", is_flag=True, help="Start worker as a background process.")
@_option(
    WORKER,
    "-S",
    "--statedb",
    metavar="PATH",
    help="Path to the state database (revoked tasks and the logical clock, kept across "
    "restarts). Expands %n, %h, %d and %p.",
)
@_option(
    WORKER,
    "-l",
    "--loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    metavar=LOG_LEVEL_METAVAR,
    help="Logging level.",
)
@_option(
    WORKER,
    "-O",
    "optimization",
    type=click.Choice(["default", "fair"]),
    help="Apply optimization profile. The prefork pool always hands a task only to an "
    "idle child, which is what 'fair' asks for.",
)
@_option(
    WORKER,
    "--prefetch-multiplier",
    type=click.IntRange(min=0),
    metavar="<prefetch multiplier>",
    help="Set custom prefetch multiplier value for this worker instance.",
)
@_option(
    WORKER,
    "--disable-prefetch",
    is_flag=True,
    default=None,
    help="Disable broker prefetching: take a message only when a pool slot is free.",
)
@_option(
    POOL,
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    metavar="<concurrency>",
    help="Number of child processes (or threads, or greenlets) processing the queue. "
    "The default is the number of CPUs available on your system.",
)
@_option(
    POOL,
    "-P",
    "--pool",
    callback=_pool_name,
    metavar="[" + "|".join(POOL_NAMES) + "]",
    help="Pool implementation. gevent and eventlet need their package, e.g. "
    "pip install 'celeriac[gevent]'.",
)
@_option(
    POOL,
    "-E",
    "--task-events",
    "--events",
    "task_events",
    is_flag=True,
    default=None,
    help="Send task-related events that can be captured by monitors like celeriac events "
    "and the dashboard.",
)
@_option(
    POOL,
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Enables a hard time limit (in seconds int/float) for tasks.",
)
@_option(
    POOL,
    "--soft-time-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Enables a soft time limit (in seconds int/float) for tasks.",
)
@_option(
    POOL,
    "--max-tasks-per-child",
    type=click.IntRange(min=1),
    help="Maximum number of tasks a pool worker can execute before it's terminated "
    "and replaced by a new worker.",
)
@_option(
    POOL,
    "--max-memory-per-child",
    type=click.IntRange(min=1),
    help="Maximum amount of resident memory, in KiB, that may be consumed by a child "
    "process before it will be replaced by a new one. If a single task causes a child "
    "process to exceed this limit, the task will be completed and the child process will "
    "be replaced afterwards.",
)
@_option(
    QUEUE,
    "--purge",
    "--discard",
    "purge",
    is_flag=True,
    help="Delete waiting messages of the consumed queues first.",
)
@_option(
    QUEUE,
    "-Q",
    "--queues",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Queues to consume (created if missing).",
)
@_option(
    QUEUE,
    "-X",
    "--exclude-queues",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Queues not to consume.",
)
@_option(
    QUEUE,
    "-I",
    "--include",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Extra modules to import.",
)
@_option(
    FEATURES,
    "--without-gossip",
    is_flag=True,
    help="Do not follow the other workers' events (who joins, leaves, goes missing).",
)
@_option(
    FEATURES,
    "--without-mingle",
    is_flag=True,
    help="Do not sync revoked tasks and the clock with other workers at start-up.",
)
@_option(
    FEATURES,
    "--without-heartbeat",
    is_flag=True,
    help="Send no worker-heartbeat events (monitors then see the worker as offline).",
)
@_option(
    FEATURES,
    "--heartbeat-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds between worker-heartbeat events.",
)
@_option(
    FEATURES,
    "--autoscale",
    callback=_autoscale,
    metavar="<MAX WORKERS>,<MIN WORKERS>",
    help="Grow the pool up to MAX under load, shrink it down to MIN when idle.",
)
@_option(
    FEATURES,
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve Prometheus metrics at http://ADDRESS:PORT/metrics (0: a free port).",
)
@_option(
    FEATURES,
    "--metrics-address",
    metavar="ADDRESS",
    help="Interface --metrics-port listens on (127.0.0.1; 0.0.0.0 for every one).",
)
@_option(
    BEAT,
    "-B",
    "--beat",
    is_flag=True,
    help="Also run the periodic task scheduler (celeriac beat) in this worker.",
)
@_option(
    BEAT,
    "-s",
    "--schedule-filename",
    "--schedule",
    "schedule_filename",
    help="Path to the schedule database if running with the -B option. Defaults to "
    "celerybeat-schedule.",
)
@_option(BEAT, "--scheduler", help="Scheduler class to use when running with -B.")
@_option(
    DAEMON,
    "-f",
    "--logfile",
    help="Log destination; defaults to stderr. Expands %n %h %d %p, and %i/%I (pool "
    "process index) to give each pool process its own file.",
)
@_option(DAEMON, "--pidfile", help="PID file path; defaults to no PID file.")
@_option(DAEMON, "--uid", help="Drops privileges to this user ID.")
@_option(DAEMON, "--gid", help="Drops privileges to this group ID.")
@_option(DAEMON, "--umask", callback=_umask, help="Create files and directories with this umask.")
@_option(DAEMON, "--executable", help="Override path to the Python executable.")
@click.option(STATUS_OPTION, "status_fd", type=int, hidden=True)
@click.pass_obj
def worker(obj: CLIContext, /, **options: Any) -> None:
    """Start a worker."""
    if options["detach"] and options["status_fd"] is None:
        try:  # first: nothing may be open (no threads, no connections) yet
            _detach(options)
        except (CeleriacError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        return
    report = StartupReport(options["status_fd"])
    try:
        _run(obj, options, report)
    except CeleriacError as exc:
        report.fail(str(exc))
        raise click.ClickException(str(exc)) from exc
    except (ValueError, ImportError) as exc:
        report.fail(f"{type(exc).__name__}: {exc}")
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    except click.ClickException as exc:
        report.fail(exc.format_message())
        raise
    finally:
        report.fail("the worker stopped during start-up")  # nothing if it reported


def _detach(options: dict[str, Any]) -> None:
    """Start this same command line again as a daemon, and wait until it reports."""
    nodename = default_nodename(options["hostname"])
    logfile = options["logfile"]
    program = ["-m", "celeriac"] if sys.argv[0].endswith("__main__.py") else [sys.argv[0]]
    argv = [options["executable"] or sys.executable, *program, *sys.argv[1:]]
    failure = spawn_daemon(
        argv,
        status_option=STATUS_OPTION,
        logfile=node_format(logfile, nodename, index=0) if logfile else None,
        umask=options["umask"],
        uid=options["uid"],
        gid=options["gid"],
    )
    if failure is not None:
        raise click.ClickException(failure)


def _run(obj: CLIContext, options: dict[str, Any], report: StartupReport) -> None:
    from celeriac.worker.worker import Worker

    drop_privileges(options["uid"], options["gid"])
    if options["umask"] is not None:
        os.umask(options["umask"])
    nodename = default_nodename(options["hostname"])
    logfile, pidfile = options["logfile"], options["pidfile"]
    with pidlock(node_format(pidfile, nodename)) if pidfile else contextlib.nullcontext():
        app = obj.app  # first, as Celery: its module's logging receivers then take part
        first_logfile = node_format(logfile, nodename, index=0) if logfile else None
        setup_logging(options["loglevel"], first_logfile, app.conf)
        node = Worker(
            app,
            hostname=options["hostname"],
            queues=options["queues"],
            exclude_queues=options["exclude_queues"],
            concurrency=options["concurrency"],
            pool=options["pool"],
            prefetch_multiplier=options["prefetch_multiplier"],
            disable_prefetch=options["disable_prefetch"],
            time_limit=options["time_limit"],
            soft_time_limit=options["soft_time_limit"],
            max_tasks_per_child=options["max_tasks_per_child"],
            max_memory_per_child=options["max_memory_per_child"],
            purge=options["purge"],
            include=options["include"],
            task_events=options["task_events"],
            heartbeat_interval=None
            if options["without_heartbeat"]
            else options["heartbeat_interval"],
            beat=options["beat"],
            schedule_filename=options["schedule_filename"],
            scheduler=options["scheduler"],
            autoscale=options["autoscale"],
            statedb=options["statedb"],
            mingle=not options["without_mingle"],
            gossip=not options["without_gossip"],
            process_init=child_log_file(logfile, nodename),
            metrics_port=options["metrics_port"],
            metrics_address=options["metrics_address"],
            cli_options=options,
        )
        if node.metrics is not None:  # before anything starts: a taken port stops it here
            node.metrics.open()
        node.load_tasks()
        signals.celeryd_after_setup.send(sender=node.hostname, instance=node, conf=app.conf)
        obj.echo(node.banner())
        report.ok()
        redirect_stdouts(app.conf)  # after the banner, as in Celery
        asyncio.run(node.run())
