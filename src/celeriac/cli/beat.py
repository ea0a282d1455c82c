"""``celeriac beat``: start the periodic task scheduler."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
from types import FrameType

import click

from celeriac import __version__
from celeriac._internal.daemon import detach as detach_process
from celeriac._internal.daemon import pidlock
from celeriac._internal.naming import mask_url
from celeriac.beat.service import Service, scheduler_class
from celeriac.cli.base import (
    LOG_LEVEL_METAVAR,
    LOG_LEVELS,
    CLIContext,
    GroupedCommand,
    GroupedOption,
    setup_logging,
)
from celeriac.exceptions import CeleriacError
from celeriac.schedules import humanize_seconds
from celeriac.worker.banner import CODENAME

__all__ = ["beat", "startup_info"]


def startup_info(service: Service, *, loglevel: str, logfile: str | None) -> str:
    """The configuration block printed at start, in the shape of Celery's beat."""
    scheduler = service.get_scheduler(lazy=True)
    cls = type(scheduler)
    lines = [
        f"LocalTime -> {dt.datetime.now().replace(microsecond=0)}",
        "Configuration ->",
        f"    . broker -> {mask_url(service.app.broker_url)}",
        f"    . scheduler -> {cls.__module__}.{cls.__qualname__}",
        scheduler.info,
        f"    . logfile -> {logfile or '[stderr]'}@%{loglevel.upper()}",
        f"    . maxinterval -> {humanize_seconds(scheduler.max_interval)}"
        f" ({scheduler.max_interval:g}s)",
    ]
    return "\n".join(line for line in lines if line)


@click.command(cls=GroupedCommand, help="Start the beat periodic task scheduler.")
@click.option(
    "-D",
    "--detach",
    cls=GroupedOption,
    help_group="Beat Options",
    is_flag=True,
    help="Detach and run in the background as a daemon.",
)
@click.option(
    "-s",
    "--schedule",
    cls=GroupedOption,
    help_group="Beat Options",
    help="Path to the schedule database (SQLite). Defaults to `celerybeat-schedule`.",
)
@click.option(
    "-S",
    "--scheduler",
    cls=GroupedOption,
    help_group="Beat Options",
    help="Scheduler class to use.",
)
@click.option(
    "--max-interval",
    cls=GroupedOption,
    help_group="Beat Options",
    type=click.FloatRange(min=0, min_open=True),
    help="Max seconds to sleep between schedule iterations.",
)
@click.option(
    "--lease-timeout",
    cls=GroupedOption,
    help_group="Beat Options",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds the leader lease lasts: when beats share a schedule, another one takes "
    "over this long after the leader stops.  [default: 30]",
)
@click.option(
    "-l",
    "--loglevel",
    cls=GroupedOption,
    help_group="Beat Options",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    metavar=LOG_LEVEL_METAVAR,
    help="Logging level.",
)
@click.option(
    "-f",
    "--logfile",
    cls=GroupedOption,
    help_group="Daemonization Options",
    help="Log destination; defaults to stderr",
)
@click.option(
    "--pidfile",
    cls=GroupedOption,
    help_group="Daemonization Options",
    help="PID file path; beat will not start while it names a running process.",
)
@click.pass_obj
def beat(
    obj: CLIContext,
    detach: bool,
    schedule: str | None,
    scheduler: str | None,
    max_interval: float | None,
    lease_timeout: float | None,
    loglevel: str,
    logfile: str | None,
    pidfile: str | None,
) -> None:
    """Start the beat periodic task scheduler."""
    try:
        app = obj.app
        app.import_default_modules()
        scheduler_cls = scheduler_class(scheduler or app.conf.beat_scheduler)
        if detach:
            detach_process(logfile=logfile)
        service = Service(
            app,
            max_interval=max_interval,
            schedule_filename=schedule,
            scheduler_cls=scheduler_cls,
            lease_timeout=lease_timeout,
        )
        with pidlock(pidfile) if pidfile else contextlib.nullcontext():
            obj.echo(f"celeriac beat v{__version__} ({CODENAME}) is starting.")
            obj.echo(startup_info(service, loglevel=loglevel, logfile=logfile))
            setup_logging(loglevel, logfile, app.conf)
            _stop_on_signals(service)
            service.start()
    except CeleriacError as exc:
        raise click.ClickException(str(exc)) from exc
    except (ValueError, ImportError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


def _stop_on_signals(service: Service) -> None:
    """SIGTERM and SIGINT stop beat after the current tick; a second one kills it."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if service.is_stopped:
            raise SystemExit(128 + signum)
        service.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
