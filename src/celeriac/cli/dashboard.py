"""``celeriac dashboard``: the web dashboard and Prometheus endpoint."""

from __future__ import annotations

import asyncio
import signal

import click

from celeriac.cli.base import LOG_LEVEL_METAVAR, LOG_LEVELS, CLIContext, comma_list, setup_logging
from celeriac.exceptions import CeleriacError

__all__ = ["dashboard"]

_MISSING_EXTRA = "the dashboard needs its extra: pip install 'celeriac[dashboard]'"


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5555,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--address",
    default="localhost",
    show_default=True,
    help="Address to listen on ('0.0.0.0' for every interface).",
)
@click.option(
    "--basic-auth",
    multiple=True,
    callback=comma_list,
    metavar="USER:PASSWORD",
    envvar="CELERIAC_DASHBOARD_BASIC_AUTH",
    help="Require HTTP basic auth; comma-separated pairs for several users.",
)
@click.option(
    "--token",
    envvar="CELERIAC_DASHBOARD_TOKEN",
    help="Require this token (Authorization: Bearer, or ?token= once in a browser).",
)
@click.option(
    "--max-tasks",
    type=click.IntRange(min=1),
    default=10000,
    show_default=True,
    help="Tasks kept in memory.",
)
@click.option(
    "--inspect-interval",
    type=click.FloatRange(min=0.5),
    default=10.0,
    show_default=True,
    help="Seconds between two rounds of questions to the workers.",
)
@click.option(
    "-l",
    "--loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    metavar=LOG_LEVEL_METAVAR,
    help="Logging level.",
)
@click.pass_obj
def dashboard(
    obj: CLIContext,
    port: int,
    address: str,
    basic_auth: list[str],
    token: str | None,
    max_tasks: int,
    inspect_interval: float,
    loglevel: str,
) -> None:
    """Serve the web dashboard and /metrics (Prometheus) for the app's cluster."""
    try:
        from celeriac.dashboard.server import DashboardServer
    except ImportError as exc:
        raise click.ClickException(_MISSING_EXTRA) from exc
    from celeriac.dashboard import Dashboard, DashboardOptions

    for pair in basic_auth:
        if ":" not in pair:
            raise click.BadParameter(f"{pair!r} is not USER:PASSWORD", param_hint="--basic-auth")
    setup_logging(loglevel)
    options = DashboardOptions(
        address=address,
        port=port,
        basic_auth=tuple(basic_auth),
        token=token or None,
        max_tasks=max_tasks,
        inspect_interval=inspect_interval,
    )
    server = DashboardServer(Dashboard(obj.app, options))

    def started() -> None:
        obj.echo(f"celeriac dashboard on {server.url} (Prometheus: {server.url}metrics)")

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.request_stop)
        await server.serve(on_started=started)

    try:
        asyncio.run(serve())
    except OSError as exc:
        raise click.ClickException(f"dashboard: cannot listen on {address}:{port}: {exc}") from exc
    except CeleriacError as exc:
        raise click.ClickException(f"dashboard: {exc}") from exc
