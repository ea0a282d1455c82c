"""``celeriac multi``: start and stop several detached workers (Celery's node syntax)."""

from __future__ import annotations

import signal
import sys

import click

from celeriac import __version__
from celeriac.cli.base import CLIContext

__all__ = ["multi"]

USAGE = """\
usage: celeriac multi start <node1 node2 nodeN|range> [worker options]
       celeriac multi stop <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi stopwait <n1 n2 nN|range> [-SIG (default: -TERM)]
       celeriac multi restart <n1 n2 nN|range> [-SIG] [worker options]
       celeriac multi kill <n1 n2 nN|range>
       celeriac multi show <n1 n2 nN|range> [worker options]
       celeriac multi names <n1 n2 nN|range>
       celeriac multi get <nodename> <n1 n2 nN|range> [worker options]
       celeriac multi expand <template> <n1 n2 nN|range> [worker options]
       celeriac multi help

examples:
       celeriac multi start 10 -A proj -l INFO -Q:1-3 images,video -Q:4,5 data \\
           -Q default -L:4,5 debug
       celeriac multi start w1 -A proj -l INFO --pidfile=/var/run/celeriac/%n.pid \\
           --logfile=/var/log/celeriac/%n%I.log
"""
_RESERVED = ("--nosplash", "--quiet", "-q", "--verbose", "--no-color")


def _signal_from(argv: list[str]) -> tuple[int, list[str]]:
    """A trailing ``-KILL``/``-9``/``-SIGTERM`` chooses the signal; the rest stays."""
    for index in range(len(argv) - 1, -1, -1):
        word = argv[index]
        if not word.startswith("-") or word.startswith("--") or len(word) < 2:
            continue
        name = word[1:]
        if name.isdigit():
            return int(name), argv[:index] + argv[index + 1 :]
        try:
            sig = signal.Signals[name if name.startswith("SIG") else "SIG" + name]
        except KeyError:
            continue
        return int(sig), argv[:index] + argv[index + 1 :]
    return int(signal.SIGTERM), argv


@click.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    }
)
@click.argument("command", required=False)
@click.pass_context
def multi(ctx: click.Context, command: str | None) -> None:
    """Start multiple worker instances (see ``celeriac multi help``)."""
    from celeriac.multi import Cluster, nodes_from_argv

    obj: CLIContext = ctx.obj
    argv = [arg for arg in ctx.args if arg not in _RESERVED]
    quiet = any(arg in ("-q", "--quiet") for arg in ctx.args) or obj.quiet
    if command in (None, "help", "--help", "-h"):
        click.echo(USAGE)
        return
    if obj.app_name:  # `celeriac -A proj multi ...` passes -A on to every node
        argv = ["-A", obj.app_name, *argv]

    def say(text: str) -> None:
        if not quiet:
            click.echo(text, nl=False)

    if command in ("show", "names", "get", "expand"):
        _print_only(command, argv)
        return
    if command not in ("start", "stop", "stopwait", "stop_verify", "restart", "kill"):
        raise click.UsageError(f"Invalid command: {command}")
    sig, argv = (
        _signal_from(argv)
        if command in ("stop", "stopwait", "stop_verify", "restart")
        else (int(signal.SIGTERM), argv)
    )
    try:
        nodes = list(nodes_from_argv(argv))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if not nodes:
        raise click.UsageError("name the nodes: a count (10) or names (w1 w2)")
    if "--nosplash" not in ctx.args:
        say(f"celeriac multi v{__version__}\n")
    cluster = Cluster(nodes, say)
    run = {"start": cluster.start, "kill": cluster.kill}.get(command)
    code = (
        run()
        if run is not None
        else {
            "stop": cluster.stop,
            "stopwait": cluster.stopwait,
            "stop_verify": cluster.stopwait,
            "restart": cluster.restart,
        }[command](sig)
    )
    ctx.exit(code)


def _print_only(command: str, argv: list[str]) -> None:
    from celeriac.multi.nodes import expand, nodes_from_argv

    if command in ("get", "expand"):
        if not argv:
            raise click.UsageError(f"multi {command} needs an argument")
        wanted, argv = argv[0], argv[1:]
    nodes = list(nodes_from_argv(argv))
    if command == "show":
        click.echo("\n".join(node.command_line for node in nodes))
    elif command == "names":
        click.echo("\n".join(node.name for node in nodes))
    elif command == "expand":
        click.echo("\n".join(expand(wanted, node.name) for node in nodes))
    else:
        found = [node for node in nodes if node.name == wanted]
        if not found:
            sys.exit(1)
        click.echo(" ".join(found[0].argv[1:]))
