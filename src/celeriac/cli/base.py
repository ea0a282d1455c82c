"""What every command shares: the context object, grouped help, logging set-up."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import click

from celeriac._internal.daemon import node_format
from celeriac.app.base import Celery
from celeriac.exceptions import ImproperlyConfigured

__all__ = [
    "COMMA_LIST",
    "LOG_LEVEL_METAVAR",
    "CLIContext",
    "GroupedCommand",
    "GroupedOption",
    "child_log_file",
    "comma_list",
    "redirect_stdouts",
    "setup_logging",
]

LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")


class CLIContext:
    """The global options, and the app they name (loaded on first use)."""

    def __init__(
        self,
        *,
        app_name: str | None = None,
        broker: str | None = None,
        result_backend: str | None = None,
        config: str | None = None,
        workdir: str | None = None,
        quiet: bool = False,
        no_color: bool = False,
        preset_app: Celery | None = None,
    ) -> None:
        self.app_name = app_name
        self.broker = broker
        self.result_backend = result_backend
        self.config = config
        self.workdir = workdir
        self.quiet = quiet
        self.no_color = no_color
        self._app = preset_app

    @property
    def app(self) -> Celery:
        """The app, configured with the global options."""
        if self._app is None:
            if self.workdir:
                os.chdir(self.workdir)
            if self.app_name:
                from celeriac.cli.loading import find_app

                try:
                    self._app = find_app(self.app_name)
                except ImproperlyConfigured as exc:
                    raise click.ClickException(str(exc)) from exc
            else:
                self._app = Celery("default")
            if self.config:
                self._app.config_from_object(self.config)
            overrides: dict[str, Any] = {}
            if self.broker:
                overrides["broker_url"] = self.broker
            if self.result_backend:
                overrides["result_backend"] = self.result_backend
            if overrides:
                self._app.conf.override(**overrides)
        return self._app

    def echo(self, text: str = "", *, err: bool = False) -> None:
        """Print unless ``--quiet``."""
        if not self.quiet or err:
            click.echo(text, err=err)


def comma_list(ctx: click.Context, param: click.Parameter, value: Any) -> list[str]:
    """Callback for repeatable comma-separated options (``-Q a,b -Q c``): one flat list."""
    items = value if isinstance(value, list | tuple) else [value]
    return [part.strip() for item in items if item for part in str(item).split(",") if part.strip()]


#: The metavar of :func:`comma_list` options, as Celery shows it.
COMMA_LIST = "COMMA SEPARATED LIST"
#: The metavar of ``-l/--loglevel``.
LOG_LEVEL_METAVAR = "[" + "|".join(LOG_LEVELS) + "]"


class GroupedOption(click.Option):
    """An option shown under a heading (``Worker Options``, ``Pool Options`` ...)."""

    def __init__(self, *args: Any, help_group: str = "Options", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_group = help_group


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists options under their headings, in order."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write one section per option group, ``Options`` last."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Argument):
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            group = getattr(param, "help_group", "Options")
            groups.setdefault(group, []).append(record)
        options = groups.pop("Options", [])
        for name, records in [*groups.items(), ("Options", options)]:
            if records:
                with formatter.section(name):
                    formatter.write_dl(records)


class _DropRepeatedConnectErrors(logging.Filter):
    """Drop aiormq's log line for a failed connection attempt.

    aiormq logs it at ERROR before raising; celeriac reports the same failure itself,
    in one readable line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error when creating transport")


def setup_logging(loglevel: str, logfile: str | None = None, conf: Any = None) -> bool:
    """Configure the root logger and the task logger (only the command line does this).

    As in Celery, if anything is connected to the ``setup_logging`` signal, it is
    called instead and logging is left to it (this returns False); otherwise
    ``after_setup_logger`` and ``after_setup_task_logger`` follow. ``conf`` (the app's
    settings) gives ``worker_log_format``, ``worker_task_log_format``,
    ``worker_hijack_root_logger`` and ``worker_log_color``; without it, Celery's
    defaults apply.
    """
    from celeriac import signals
    from celeriac.utils.log import ColorFormatter, TaskFormatter, task_logger

    fmt = conf.worker_log_format if conf is not None else LOG_FORMAT
    task_fmt = conf.worker_task_log_format if conf is not None else TASK_LOG_FORMAT
    hijack = conf.worker_hijack_root_logger if conf is not None else True
    colorize = supports_color(conf.worker_log_color if conf is not None else None, logfile)
    level = loglevel.upper().replace("FATAL", "CRITICAL")
    number = logging.getLevelName(level)  # the signals carry the number, as Celery's do
    if signals.setup_logging.has_receivers:
        signals.setup_logging.send(
            sender=None, loglevel=number, logfile=logfile, format=fmt, colorize=colorize
        )
        return False
    root = logging.getLogger()
    if hijack:  # as Celery: the root's handlers go; when not, a configured root is kept
        for logger in (root, task_logger):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
                handler.close()
    if not root.handlers:
        root.addHandler(_handler(logfile, ColorFormatter(fmt, use_color=colorize)))
    root.setLevel(level)
    if not task_logger.handlers:  # task lines have a format of their own, as in Celery
        task_logger.addHandler(_handler(logfile, TaskFormatter(task_fmt, use_color=colorize)))
    task_logger.setLevel(level)
    task_logger.propagate = False
    aiormq = logging.getLogger("aiormq.connection")
    if not any(isinstance(one, _DropRepeatedConnectErrors) for one in aiormq.filters):
        aiormq.addFilter(_DropRepeatedConnectErrors())
    for signal, logger in (
        (signals.after_setup_logger, root),
        (signals.after_setup_task_logger, task_logger),
    ):
        signal.send(
            sender=None,
            logger=logger,
            loglevel=number,
            logfile=logfile,
            format=fmt,
            colorize=colorize,
        )
    return True


def supports_color(colorize: bool | None, logfile: str | None) -> bool:
    """``worker_log_color`` as Celery reads it: unless false, colour only a terminal."""
    import sys

    if colorize is False:
        return False
    return logfile is None and sys.stderr is not None and sys.stderr.isatty()


def _handler(logfile: str | None, formatter: logging.Formatter) -> logging.Handler:
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler()
    handler.setFormatter(formatter)
    return handler


def redirect_stdouts(conf: Any) -> None:
    """``worker_redirect_stdouts``: what is printed from now on is logged, as in Celery.

    Lines written to ``sys.stdout`` or ``sys.stderr`` become records of the
    ``celeriac.redirected`` logger at ``worker_redirect_stdouts_level``; pool processes
    started afterwards inherit this. Not when a ``setup_logging`` receiver took logging
    over (as Celery).
    """
    import sys

    from celeriac import signals
    from celeriac.utils.log import LoggingProxy, get_logger

    if not conf.worker_redirect_stdouts or signals.setup_logging.has_receivers:
        return
    level = str(conf.worker_redirect_stdouts_level).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ImproperlyConfigured(f"worker_redirect_stdouts_level: unknown level {level!r}")
    proxy = LoggingProxy(get_logger("celeriac.redirected"), level)
    sys.stdout = sys.stderr = proxy


def child_log_file(template: str | None, nodename: str) -> Callable[[int], None] | None:
    """With ``%i``/``%I`` in the log file name, each pool process logs to its own file."""
    if not template or ("%i" not in template and "%I" not in template):
        return None
    return functools.partial(_log_to_own_file, template, nodename)


def _log_to_own_file(template: str, nodename: str, index: int) -> None:
    """In pool process ``index``: move the log file handlers to its own file."""
    path = node_format(template, nodename, index=index)
    for logger in (logging.getLogger(), logging.getLogger("celeriac.task")):
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler):
                own = logging.FileHandler(path)
                own.setFormatter(handler.formatter)
                own.setLevel(handler.level)
                logger.removeHandler(handler)
                handler.close()
                logger.addHandler(own)
