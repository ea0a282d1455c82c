"""Run mypy on tests/typing/task_types.py: the public API's types are what users see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "typing" / "task_types.py"
EXPECTED = re.compile(r"#\s*E:\s*([a-z-]+)\s*$")
REPORTED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def expected_errors() -> set[tuple[int, str]]:
    found = set()
    for number, line in enumerate(CASES.read_text().splitlines(), start=1):
        match = EXPECTED.search(line)
        if match:
            found.add((number, match.group(1)))
    return found


def test_cases_file_has_expectations() -> None:
    assert len(expected_errors()) >= 5


def test_public_api_types() -> None:
    stdout, stderr, _ = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-error-summary",
            "--show-error-codes",
            "--hide-error-context",
            "--no-pretty",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(CASES),
        ]
    )
    assert stderr == ""
    reported = set()
    unparsed = []
    for line in stdout.splitlines():
        match = REPORTED.match(line)
        if match:
            reported.add((int(match.group("line")), match.group("code")))
        elif ": note: " not in line:
            unparsed.append(line)
    assert unparsed == []
    expected = expected_errors()
    assert sorted(reported - expected) == [], "unexpected mypy errors:\n" + stdout
    assert sorted(expected - reported) == [], "expected errors mypy did not report"
