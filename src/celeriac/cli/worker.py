"""``celeriac worker``: start a worker node."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from celeriac.cli.base import (
    LOG_LEVELS,
    CLIContext,
    CommaList,
    LogLevel,
    GroupedCommand,
    GroupedOption,
    flatten,
    setup_logging,
)
from celeriac.exceptions import CeleriacError
from celeriac.pools.registry import POOL_NAMES, pool_class

__all__ = ["worker"]

_EPILOG_EXAMPLES = """\b
Examples
--------

$ celeriac --app=proj worker -l INFO
$ celeriac -A proj worker -l INFO -Q hipri,lopri
$ celeriac -A proj worker --concurrency=4
"""


class PoolChoice(click.Choice):
    """``-P``: a pool name; names of pools this version lacks fail with a clear reason."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            pool_class(str(value))
        except CeleriacError as exc:
            self.fail(str(exc), param, ctx)
        return value


@click.command(cls=GroupedCommand, help=f"Start worker instance.\n\n{_EPILOG_EXAMPLES}")
@click.option("-n", "--hostname", cls=GroupedOption, help_group="Worker Options",
              help="Set custom hostname (e.g., 'w1@%h'). Expands: %h (hostname), "
                   "%n (name) and %d (domain).")
@click.option("-l", "--loglevel", cls=GroupedOption, help_group="Worker Options",
              type=LogLevel(LOG_LEVELS), default="WARNING",
              help="Logging level.")
@click.option("--prefetch-multiplier", cls=GroupedOption, help_group="Worker Options",
              type=click.IntRange(min=0), metavar="<prefetch multiplier>",
              help="Set custom prefetch multiplier value for this worker instance.")
@click.option("-c", "--concurrency", cls=GroupedOption, help_group="Pool Options",
              type=click.IntRange(min=1), metavar="<concurrency>",
              help="Number of threads (or child processes) processing the queue. The default "
                   "is the number of CPUs available on your system.")
@click.option("-P", "--pool", cls=GroupedOption, help_group="Pool Options",
              type=PoolChoice(POOL_NAMES, case_sensitive=False), default=None,
              help="Pool implementation.")
@click.option("--purge", "--discard", "purge", cls=GroupedOption, help_group="Queue Options",
              is_flag=True, help="Delete waiting messages of the consumed queues first.")
@click.option("-Q", "--queues", cls=GroupedOption, help_group="Queue Options", type=CommaList(),
              multiple=True, help="Queues to consume (created if missing).")
@click.option("-X", "--exclude-queues", cls=GroupedOption, help_group="Queue Options",
              type=CommaList(), multiple=True, help="Queues not to consume.")
@click.option("-I", "--include", cls=GroupedOption, help_group="Queue Options",
              type=CommaList(), multiple=True, help="Extra modules to import.")
@click.pass_obj
def worker(
    obj: CLIContext,
    hostname: str | None,
    loglevel: str,
    prefetch_multiplier: int | None,
    concurrency: int | None,
    pool: str | None,
    purge: bool,
    queues: list[list[str]],
    exclude_queues: list[list[str]],
    include: list[list[str]],
) -> None:
    """Start a worker."""
    from celeriac.worker.worker import Worker

    setup_logging(loglevel)
    try:
        node = Worker(
            obj.app,
            hostname=hostname,
            queues=flatten(queues),
            exclude_queues=flatten(exclude_queues),
            concurrency=concurrency,
            pool=pool.lower() if pool else None,
            prefetch_multiplier=prefetch_multiplier,
            purge=purge,
            include=flatten(include),
        )
        node.load_tasks()
        obj.echo(node.banner())
        asyncio.run(node.run())
    except CeleriacError as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, ImportError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
