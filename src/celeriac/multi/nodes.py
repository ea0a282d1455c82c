"""Parsing ``multi`` command lines into nodes, with Celery's node syntax.

``multi start 10 -Q:1-3 images,video -c:image 10 -- --extra`` means: nodes ``celery1``
to ``celery10`` on this host; options apply to every node unless an option is
namespaced (``-c:1``, ``-Q:1-3``, ``-L:4,5``, ``-c:image``) to one or more nodes by
index (1-based), range (count form only), list or name. ``--`` passes the rest
through unchanged.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from celeriac._internal.naming import expand_hostname

__all__ = ["Node", "NodeOptions", "expand", "nodes_from_argv", "parse_options"]

#: Options that belong before ``worker`` on the command line (``celeriac -A x worker``).
GLOBAL_OPTIONS = (
    "-A",
    "--app",
    "-b",
    "--broker",
    "--result-backend",
    "--config",
    "--workdir",
    "-C",
    "--no-color",
    "-q",
    "--quiet",
)
#: Options consumed by ``multi`` itself.
MULTI_OPTIONS = ("--hostname", "-n", "--prefix", "--suffix", "--range-prefix")
DEFAULT_PIDFILE = "/var/run/celeriac/%n.pid"
_ALIASES = {"-L": "-l", "--loglevel": "-l"}
DEFAULT_LOGFILE = "/var/log/celeriac/%n%I.log"


@dataclass
class NodeOptions:
    """Options parsed from a ``multi`` command line."""

    values: list[str] = field(default_factory=list)
    options: dict[str, str | None] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str | None]] = field(default_factory=dict)
    passthrough: list[str] = field(default_factory=list)


def parse_options(argv: Sequence[str]) -> NodeOptions:
    """Split ``argv`` into node words, options, namespaced options and passthrough."""
    parsed = NodeOptions()
    args = [arg for arg in argv if arg]
    pos = 0
    while pos < len(args):
        arg = args[pos]
        if arg == "--":
            parsed.passthrough = args[pos + 1 :]
            break
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            _add(parsed, "--" + name, value if "=" in arg else None)
        elif arg.startswith("-") and len(arg) > 1:
            value = None
            if pos + 1 < len(args) and not args[pos + 1].startswith("-"):
                value = args[pos + 1]
                pos += 1
            _add(parsed, arg, value)
        else:
            parsed.values.append(arg)
        pos += 1
    return parsed


def _add(parsed: NodeOptions, name: str, value: str | None) -> None:
    namespace = None
    if ":" in name:
        name, namespace = name.split(":", 1)
    # ``-L`` is how Celery's multi examples set a node's log level; the worker says ``-l``.
    name = _ALIASES.get(name, name)
    if namespace is None:
        parsed.options[name] = value
    else:
        parsed.namespaces.setdefault(namespace, {})[name] = value


def expand(template: str, nodename: str) -> str:
    """Expand ``%n``/``%N`` (short name), ``%h``/``%p`` (node name), ``%d`` (host), ``%%``.

    ``%i`` and ``%I`` are left for the worker (they name pool processes).
    """
    short, _, host = nodename.partition("@")
    values = {
        "n": short,
        "N": short,
        "h": nodename,
        "p": nodename,
        "d": host,
        "%": "%",
        "i": "%i",
        "I": "%I",
    }
    out: list[str] = []
    chars = iter(template)
    for ch in chars:
        if ch != "%":
            out.append(ch)
            continue
        letter = next(chars, "")
        out.append(values.get(letter, "%" + letter))
    return "".join(out)


def _spread(
    parsed: NodeOptions, names: list[str], count_form: bool
) -> dict[str, dict[str, str | None]]:
    """Namespaced options keyed by node name (ranges, lists and indexes resolved)."""
    by_name: dict[str, dict[str, str | None]] = {}
    for namespace, options in parsed.namespaces.items():
        targets: list[str] = []
        for part in namespace.split(","):
            if count_form and "-" in part:
                start, stop = part.split("-", 1)
                targets += [
                    names[i - 1] for i in range(int(start), int(stop) + 1) if 0 < i <= len(names)
                ]
            elif part.isdigit():
                index = int(part)
                if not 0 < index <= len(names):
                    raise ValueError(f"no node at index {part} (nodes start at 1)")
                targets.append(names[index - 1])
            else:
                targets.append(part)
        for target in targets:
            by_name.setdefault(target, {}).update(options)
    return by_name


def _nodename(word: str, prefix: str, suffix: str) -> tuple[str, str]:
    """(short key, full node name) for a node word."""
    if "@" in word:
        short, host = word.split("@", 1)
        return short, f"{short}@{expand_hostname(host)}"
    return word, f"{prefix}{word}@{suffix}" if suffix else f"{prefix}{word}"


@dataclass(eq=False)
class Node:
    """One worker node: its name, options and command line."""

    name: str
    options: dict[str, str | None]
    passthrough: list[str]
    python: str = sys.executable

    @property
    def pidfile(self) -> str:
        """The node's pidfile, expanded."""
        return os.path.expanduser(
            expand(self._get("--pidfile", "-p") or DEFAULT_PIDFILE, self.name)
        )

    @property
    def logfile(self) -> str:
        """The node's logfile template, expanded (``%I`` is left for the worker)."""
        return os.path.expanduser(
            expand(self._get("--logfile", "-f") or DEFAULT_LOGFILE, self.name)
        )

    def _get(self, *names: str) -> str | None:
        for name in names:
            if self.options.get(name) is not None:
                return self.options[name]
        return None

    @property
    def argv(self) -> list[str]:
        """The command that starts this node, detached."""
        globals_: list[str] = []
        rest: list[str] = []
        for option, value in self.options.items():
            if option in ("--pidfile", "-p", "--logfile", "-f"):
                continue
            words = [option] if value is None else [option, expand(value, self.name)]
            (globals_ if option in GLOBAL_OPTIONS else rest).extend(words)
        return [
            self.python,
            "-m",
            "celeriac",
            *globals_,
            "worker",
            "--detach",
            f"--pidfile={self.pidfile}",
            f"--logfile={self.logfile}",
            *rest,
            "-n",
            self.name,
            f"--executable={self.python}",
            *self.passthrough,
        ]

    @property
    def command_line(self) -> str:
        """:attr:`argv` as one shell-quoted line."""
        return " ".join(shlex.quote(word) for word in self.argv)

    def read_pid(self) -> int | None:
        """The pid in the node's pidfile, if it holds one."""
        try:
            with open(self.pidfile) as handle:
                text = handle.read().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None


def nodes_from_argv(argv: Sequence[str]) -> Iterator[Node]:
    """The nodes a ``multi`` command line names, with their options."""
    parsed = parse_options(argv)
    options = dict(parsed.options)
    for name in MULTI_OPTIONS:
        options.pop(name, None)
    hostname = parsed.options.get("--hostname") or parsed.options.get("-n") or socket.gethostname()
    prefix = parsed.options.get("--prefix") or ""
    suffix = parsed.options.get("--suffix") or hostname
    words = parsed.values
    count_form = len(words) == 1 and words[0].isdigit()
    if count_form:
        prefix = parsed.options.get("--range-prefix") or "celery"
        words = [str(i) for i in range(1, int(words[0]) + 1)]
    spread = _spread(parsed, words, count_form)
    for word in words:
        key, nodename = _nodename(word, prefix, suffix)
        own = spread.get(word) or spread.get(nodename) or spread.get(key) or {}
        yield Node(nodename, {**options, **own}, list(parsed.passthrough))
