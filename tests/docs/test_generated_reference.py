"""The reference pages generated at docs build time list every setting and command."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import click

from celeriac.app.config import SETTINGS, celery_settings_without_effect
from celeriac.cli.main import main

HOOKS = Path(__file__).parents[2] / "docs" / "_gen" / "hooks.py"


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", HOOKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_lists_every_setting() -> None:
    page = _hooks().settings_reference()
    for spec in SETTINGS:
        assert f"### `{spec.name}`\n\n{spec.doc}\n" in page
        if spec.old:
            assert f"old name: `{spec.old}`" in page


def test_configuration_reference_names_celery_settings_without_effect() -> None:
    page = _hooks().without_effect_reference()
    for name in celery_settings_without_effect():
        assert f"`{name}`" in page


def test_cli_reference_shows_the_help_of_every_command() -> None:
    page = _hooks().cli_reference()
    context = click.Context(main, info_name="celeriac")
    for name in main.list_commands(context):
        assert f"$ celeriac {name} --help\nUsage: celeriac {name} " in page


def test_markers_are_replaced_in_the_pages() -> None:
    hooks = _hooks()
    page = "# Title\n\n<!-- generated: settings -->\n"
    rendered = hooks.on_page_markdown(page, page=None, config=None, files=None)
    assert "<!-- generated" not in rendered
    assert "### `broker_url`" in rendered
