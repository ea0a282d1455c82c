"""``celeriac worker``: start a worker node."""

from __future__ import annotations

import asyncio

import click

from celeriac.cli.base import (
    COMMA_LIST,
    LOG_LEVEL_METAVAR,
    LOG_LEVELS,
    CLIContext,
    GroupedCommand,
    GroupedOption,
    comma_list,
    setup_logging,
)
from celeriac.exceptions import CeleriacError
from celeriac.pools.registry import POOL_NAMES, pool_class

__all__ = ["worker"]

_EPILOG_EXAMPLES = """\b
Examples
--------

\b
$ celeriac --app=proj worker -l INFO
$ celeriac -A proj worker -l INFO -Q hipri,lopri
$ celeriac -A proj worker --concurrency=4
"""


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


@click.command(cls=GroupedCommand, help=f"Start worker instance.\n\n{_EPILOG_EXAMPLES}")
@click.option(
    "-n",
    "--hostname",
    cls=GroupedOption,
    help_group="Worker Options",
    help="Set custom hostname (e.g., 'w1@%h'). Expands: %h (hostname), %n (name) and %d (domain).",
)
@click.option(
    "-l",
    "--loglevel",
    cls=GroupedOption,
    help_group="Worker Options",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    metavar=LOG_LEVEL_METAVAR,
    help="Logging level.",
)
@click.option(
    "--prefetch-multiplier",
    cls=GroupedOption,
    help_group="Worker Options",
    type=click.IntRange(min=0),
    metavar="<prefetch multiplier>",
    help="Set custom prefetch multiplier value for this worker instance.",
)
@click.option(
    "-O",
    "optimization",
    cls=GroupedOption,
    help_group="Worker Options",
    type=click.Choice(["default", "fair"]),
    help="Apply optimization profile. The prefork pool always hands a task only to an "
    "idle child, which is what 'fair' asks for.",
)
@click.option(
    "--disable-prefetch",
    cls=GroupedOption,
    help_group="Worker Options",
    is_flag=True,
    default=None,
    help="Disable broker prefetching: take a message only when a pool slot is free.",
)
@click.option(
    "-c",
    "--concurrency",
    cls=GroupedOption,
    help_group="Pool Options",
    type=click.IntRange(min=1),
    metavar="<concurrency>",
    help="Number of threads (or child processes) processing the queue. The default "
    "is the number of CPUs available on your system.",
)
@click.option(
    "-P",
    "--pool",
    cls=GroupedOption,
    help_group="Pool Options",
    callback=_pool_name,
    metavar="[" + "|".join(POOL_NAMES) + "]",
    help="Pool implementation.",
)
@click.option(
    "-E",
    "--task-events",
    "--events",
    "task_events",
    cls=GroupedOption,
    help_group="Pool Options",
    is_flag=True,
    default=None,
    help="Send task-related events that can be captured by monitors like celeriac events "
    "and the dashboard.",
)
@click.option(
    "--max-tasks-per-child",
    cls=GroupedOption,
    help_group="Pool Options",
    type=click.IntRange(min=1),
    help="Maximum number of tasks a pool worker can execute before it's terminated "
    "and replaced by a new worker.",
)
@click.option(
    "--max-memory-per-child",
    cls=GroupedOption,
    help_group="Pool Options",
    type=click.IntRange(min=1),
    help="Maximum amount of resident memory, in KiB, that may be consumed by a child "
    "process before it will be replaced by a new one. If a single task causes a child "
    "process to exceed this limit, the task will be completed and the child process will "
    "be replaced afterwards.",
)
@click.option(
    "--time-limit",
    cls=GroupedOption,
    help_group="Pool Options",
    type=click.FloatRange(min=0, min_open=True),
    help="Enables a hard time limit (in seconds int/float) for tasks.",
)
@click.option(
    "--soft-time-limit",
    cls=GroupedOption,
    help_group="Pool Options",
    type=click.FloatRange(min=0, min_open=True),
    help="Enables a soft time limit (in seconds int/float) for tasks.",
)
@click.option(
    "--purge",
    "--discard",
    "purge",
    cls=GroupedOption,
    help_group="Queue Options",
    is_flag=True,
    help="Delete waiting messages of the consumed queues first.",
)
@click.option(
    "-Q",
    "--queues",
    cls=GroupedOption,
    help_group="Queue Options",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Queues to consume (created if missing).",
)
@click.option(
    "-X",
    "--exclude-queues",
    cls=GroupedOption,
    help_group="Queue Options",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Queues not to consume.",
)
@click.option(
    "-I",
    "--include",
    cls=GroupedOption,
    help_group="Queue Options",
    multiple=True,
    metavar=COMMA_LIST,
    callback=comma_list,
    help="Extra modules to import.",
)
@click.option(
    "--without-heartbeat",
    cls=GroupedOption,
    help_group="Features",
    is_flag=True,
    help="Send no worker-heartbeat events (monitors then see the worker as offline).",
)
@click.option(
    "--heartbeat-interval",
    cls=GroupedOption,
    help_group="Features",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds between worker-heartbeat events.",
)
@click.option(
    "-B",
    "--beat",
    cls=GroupedOption,
    help_group="Embedded Beat Options",
    is_flag=True,
    help="Also run the periodic task scheduler (celeriac beat) in this worker.",
)
@click.option(
    "-s",
    "--schedule-filename",
    "--schedule",
    "schedule_filename",
    cls=GroupedOption,
    help_group="Embedded Beat Options",
    help="Path to the schedule database if running with the -B option. Defaults to "
    "celerybeat-schedule.",
)
@click.option(
    "--scheduler",
    cls=GroupedOption,
    help_group="Embedded Beat Options",
    help="Scheduler class to use when running with -B.",
)
@click.pass_obj
def worker(
    obj: CLIContext,
    hostname: str | None,
    loglevel: str,
    prefetch_multiplier: int | None,
    optimization: str | None,
    disable_prefetch: bool | None,
    concurrency: int | None,
    pool: str | None,
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
    time_limit: float | None,
    soft_time_limit: float | None,
    purge: bool,
    queues: list[str],
    exclude_queues: list[str],
    include: list[str],
    task_events: bool | None,
    without_heartbeat: bool,
    heartbeat_interval: float,
    beat: bool,
    schedule_filename: str | None,
    scheduler: str | None,
) -> None:
    """Start a worker."""
    from celeriac.worker.worker import Worker

    setup_logging(loglevel)
    try:
        node = Worker(
            obj.app,
            hostname=hostname,
            queues=queues,
            exclude_queues=exclude_queues,
            concurrency=concurrency,
            pool=pool,
            prefetch_multiplier=prefetch_multiplier,
            disable_prefetch=disable_prefetch,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child=max_memory_per_child,
            purge=purge,
            include=include,
            task_events=task_events,
            heartbeat_interval=None if without_heartbeat else heartbeat_interval,
            beat=beat,
            schedule_filename=schedule_filename,
            scheduler=scheduler,
        )
        node.load_tasks()
        obj.echo(node.banner())
        asyncio.run(node.run())
    except CeleriacError as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, ImportError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
