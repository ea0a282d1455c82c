"""The signals page lists every signal celeriac has, with the arguments it sends."""

from __future__ import annotations

from pathlib import Path

from celeriac import signals
from celeriac.signals import Signal

PAGE = Path(__file__).parents[2] / "docs" / "user-guide" / "signals.md"


def test_every_signal_has_a_row_naming_its_arguments() -> None:
    rows = {
        line.split("`")[1]: line
        for line in PAGE.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    }
    defined = {
        name: signal
        for name in signals.__all__
        if isinstance(signal := getattr(signals, name), Signal)
    }
    assert set(rows) == set(defined)
    for name, signal in defined.items():
        arguments = rows[name].split(" | ")[2]
        if signal.providing_args:
            assert {f"`{arg}`" for arg in signal.providing_args} == set(arguments.split(", "))
        else:
            assert arguments == "none", name
