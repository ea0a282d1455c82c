"""What ``inspect``, ``control`` and ``status`` share: options, argument parsing, output."""

from __future__ import annotations

import json
import pprint
import textwrap
from collections.abc import Callable
from typing import Any

import click

from celeriac.app.remote_commands import COMMANDS, Kind, RemoteCommand, commands_of
from celeriac.cli.base import COMMA_LIST, CLIContext, GroupedCommand, GroupedOption, comma_list
from celeriac.exceptions import CeleriacError

__all__ = [
    "NO_REPLY",
    "ControlCLI",
    "InspectCLI",
    "compile_arguments",
    "remote_options",
    "run_remote",
    "say_reply",
    "verify_command",
]

NO_REPLY = "No nodes replied within time constraint"
#: Exit status when no worker answered (``EX_UNAVAILABLE``, as Celery).
EX_UNAVAILABLE = 69


def remote_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``-t/--timeout``, ``-d/--destination``, ``-j/--json``, as Celery names them."""
    group = "Remote Control Options"
    fn = click.option(
        "-j",
        "--json",
        "as_json",
        cls=GroupedOption,
        help_group=group,
        is_flag=True,
        help="Use json as output format.",
    )(fn)
    fn = click.option(
        "-d",
        "--destination",
        cls=GroupedOption,
        help_group=group,
        multiple=True,
        metavar=COMMA_LIST,
        callback=comma_list,
        help="Comma separated list of destination node names.",
    )(fn)
    return click.option(
        "-t",
        "--timeout",
        cls=GroupedOption,
        help_group=group,
        type=float,
        default=1.0,
        show_default=True,
        help="Timeout in seconds waiting for reply.",
    )(fn)


class RemoteCommandCLI(GroupedCommand):
    """A command whose ``--help`` ends with its remote commands, one line each."""

    remote_kind: Kind = "inspect"

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands of :attr:`remote_kind` with their arguments and help."""
        rows = [
            (f"{name} {command.signature}".strip(), command.help)
            for name, command in commands_of(self.remote_kind).items()
        ]
        with formatter.section(f"{self.remote_kind.capitalize()} Commands"):
            formatter.write_dl(rows)


class InspectCLI(RemoteCommandCLI):
    """``celeriac inspect``."""

    remote_kind = "inspect"


class ControlCLI(RemoteCommandCLI):
    """``celeriac control``."""

    remote_kind = "control"


def verify_command(kind: Kind, name: str) -> RemoteCommand:
    """The command ``name`` of this kind, or a usage error listing the others."""
    command = COMMANDS.get(name)
    if command is None or command.kind != kind:
        available = ", ".join(commands_of(kind))
        raise click.UsageError(
            f"Command {name} not recognized. Available {kind} commands: {available}"
        )
    return command


def _take_options(command: RemoteCommand, words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Split the command's own options (``revoke --terminate``) from its other words."""
    known = {option: (name, convert) for option, name, convert in command.options}
    found: dict[str, Any] = {}
    rest: list[str] = []
    items = iter(words)
    for word in items:
        option, equals, inline = word.partition("=")
        if option not in known:
            if word.startswith("--"):
                raise click.UsageError(f"Command {command.name!r}: no such option {word}")
            rest.append(word)
            continue
        name, convert = known[option]
        if convert is None:
            found[name] = True
            continue
        value = inline if equals else next(items, None)
        if value is None:
            raise click.UsageError(f"Command {command.name!r}: {option} needs a value")
        try:
            found[name] = convert(value)
        except ValueError as exc:
            raise click.UsageError(f"Command {command.name!r}: {exc}") from exc
    return found, rest


def compile_arguments(command: RemoteCommand, words: list[str]) -> dict[str, Any]:
    """Turn the words after the command name into its keyword arguments."""
    arguments, rest = _take_options(command, words)
    for name, convert in command.args:
        if not rest:
            break
        word = rest.pop(0)
        try:
            arguments[name] = convert(word)
        except ValueError as exc:
            raise click.UsageError(f"Command {command.name!r}: bad {name} {word!r}") from exc
    if command.variadic:
        arguments[command.variadic] = rest
    elif rest:
        raise click.UsageError(
            f"Command {command.name!r} takes arguments: {command.signature or '(none)'}"
        )
    return arguments


def _pretty(value: Any) -> tuple[str, str]:
    if isinstance(value, list):
        return "OK", "\n".join(f"* {item}" for item in value) if value else "- empty -"
    if isinstance(value, dict):
        if "ok" in value:
            return "OK", textwrap.indent(_pretty(value["ok"])[1], "    ")
        if "error" in value:
            return "ERROR", textwrap.indent(_pretty(value["error"])[1], "    ")
        return "OK", json.dumps(value, sort_keys=True, indent=4, default=str)
    if isinstance(value, str):
        return "OK", value
    return "OK", pprint.pformat(value)


def say_reply(obj: CLIContext, reply: dict[str, Any], *, show_body: bool) -> None:
    """Print one ``{node: reply}`` the way Celery does (``->  node: OK`` + indented body)."""
    node = next(iter(reply))
    status, body = _pretty(reply[node])
    color = not obj.no_color
    title = f"{click.style(f'{node}: ', fg='cyan', bold=True) if color else f'{node}: '}"
    status_text = click.style(status, fg="green" if status == "OK" else "red") if color else status
    obj.echo(f"->  {title}{status_text}")
    if show_body and body:
        obj.echo(textwrap.indent(body, "    "))


def say_online(obj: CLIContext, count: int) -> None:
    """The closing ``N node(s) online.`` line."""
    obj.echo(f"\n{count} {'node' if count == 1 else 'nodes'} online.")


class NoReply(click.ClickException):
    """Nobody answered in time (exit status 69, ``EX_UNAVAILABLE``, as Celery)."""

    exit_code = EX_UNAVAILABLE


def no_reply() -> click.ClickException:
    """The error raised when no worker answered."""
    return NoReply(NO_REPLY)


def run_remote(
    ctx: click.Context,
    kind: Kind,
    command: str,
    *,
    timeout: float,
    destination: list[str],
    as_json: bool,
) -> None:
    """What ``inspect`` and ``control`` do: send COMMAND, print each node's reply."""
    obj: CLIContext = ctx.obj
    spec = verify_command(kind, command)
    arguments = compile_arguments(spec, list(ctx.args))
    try:
        if command == "revoke":  # durable, like app.control.revoke
            obj.app.control.mailbox.store_revoked(arguments.get("task_id") or [])
        replies = obj.app.control.broadcast(
            command,
            arguments=arguments,
            destination=destination or None,
            reply=True,
            timeout=timeout,
        )
    except CeleriacError as exc:
        raise click.ClickException(f"{kind} {command}: {exc}") from exc
    if not replies:
        raise no_reply()
    if as_json:  # as Celery: inspect merges the replies by node, control lists them
        merged = {node: value for reply in replies for node, value in reply.items()}
        obj.echo(json.dumps(merged if kind == "inspect" else replies, default=str))
        return
    for reply in replies:
        say_reply(obj, reply, show_body=True)
    if kind == "inspect":
        say_online(obj, len(replies))
