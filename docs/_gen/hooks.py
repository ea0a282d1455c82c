"""MkDocs hooks: the reference pages generated from the code at build time.

``reference/configuration.md`` comes from the settings table
(:data:`celeriac.app.config.SETTINGS`) and ``reference/cli.md`` from the click commands
(:data:`celeriac.cli.main.main`), so neither can drift from what celeriac accepts. Each
page's hand-written part lives in ``docs/reference/``; its ``<!-- generated: ... -->``
marker is replaced here. Registered in ``mkdocs.yml`` under ``hooks``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import click

from celeriac.app.config import SETTINGS, celery_settings_without_effect
from celeriac.cli.main import main as celeriac_command

#: Setting name prefix -> section title; names without a known prefix are "General".
SECTIONS = {
    "broker": "Broker",
    "result": "Results",
    "task": "Tasks",
    "worker": "Worker",
    "beat": "Periodic tasks (beat)",
    "event": "Events",
}
HELP_WIDTH = 88


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``<!-- generated: name -->`` marker with its generated text."""
    for name, render in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown


# -- configuration reference ------------------------------------------------------------


def settings_reference() -> str:
    """Every declared setting, grouped by section, in declaration order."""
    sections: dict[str, list[str]] = {}
    for spec in SETTINGS:
        title = SECTIONS.get(spec.name.split("_", 1)[0], "General")
        sections.setdefault(title, []).append(_setting_entry(spec))
    parts: list[str] = []
    for title, entries in sections.items():
        parts.append(f"## {title}\n")
        parts.extend(entries)
    return "\n".join(parts)


def _setting_entry(spec: Any) -> str:
    facts = [f"Type: {_types(spec.types)}", f"default: `{_default(spec.default)}`"]
    if spec.env:
        facts.append("environment: " + ", ".join(f"`{name}`" for name in spec.env))
    if spec.old:
        facts.append(f"old name: `{spec.old}`")
    return f"### `{spec.name}`\n\n{spec.doc}\n\n{'; '.join(facts)}.\n"


def _types(types: tuple[type, ...]) -> str:
    names = ["None" if t is type(None) else _type_name(t) for t in types]
    return " or ".join(f"`{name}`" for name in names)


def _type_name(kind: type) -> str:
    if kind is dt.timedelta:
        return "timedelta"
    if kind.__name__ == "Callable":
        return "callable"
    return kind.__name__


def _default(value: Any) -> str:
    if isinstance(value, dt.timedelta):
        return f"timedelta(seconds={value.total_seconds():g})"
    return repr(value)


# -- command-line reference ---------------------------------------------------------------


def cli_reference() -> str:
    """``--help`` of ``celeriac`` and of every command and subcommand, as printed."""
    parts = []
    for context in _walk(celeriac_command, "celeriac", None):
        title = context.command_path
        help_text = context.get_help().rstrip()
        parts.append(f"## `{title}`\n\n```console\n$ {title} --help\n{help_text}\n```\n")
    return "\n".join(parts)


def _walk(
    command: click.Command, name: str, parent: click.Context | None
) -> Iterator[click.Context]:
    """The help context of ``command`` and of each of its subcommands, depth first."""
    context = click.Context(
        command,
        info_name=name,
        parent=parent,
        terminal_width=HELP_WIDTH,
        max_content_width=HELP_WIDTH,
    )
    yield context
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(context):
            sub = command.get_command(context, sub_name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, sub_name, context)


def without_effect_reference() -> str:
    """Celery's settings that celeriac accepts but does not implement, as one list."""
    return ", ".join(f"`{name}`" for name in celery_settings_without_effect()) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "settings": settings_reference,
    "settings-without-effect": without_effect_reference,
    "cli": cli_reference,
}
