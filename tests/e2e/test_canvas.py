"""The guide's "Canvas" section against real worker processes on the embedded engines."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from celeriac import chain, chord, group
from tests.e2e.wait import wait_until

pytestmark = pytest.mark.e2e


def run_canvas_section(proj: ModuleType) -> None:
    """The guide's Canvas examples, verbatim but for the import (a worker must be running)."""
    add, mul, xsum = proj.add, proj.mul, proj.xsum
    assert repr(add.signature((2, 2), countdown=10)) == "proj.tasks.add(2, 2)"
    assert repr(add.s(2, 2)) == "proj.tasks.add(2, 2)"
    assert add.s(2, 2).delay().get(timeout=10) == 4
    assert add.s(2).delay(8).get(timeout=10) == 10
    assert group(add.s(i, i) for i in range(10))().get(timeout=10) == list(range(0, 20, 2))
    assert group(add.s(i) for i in range(10))(10).get(timeout=10) == list(range(10, 20))
    assert chain(add.s(4, 4) | mul.s(8))().get(timeout=10) == 64
    assert chain(add.s(4) | mul.s(8))(4).get(timeout=10) == 64
    assert (add.s(4, 4) | mul.s(8))().get(timeout=10) == 64
    assert chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=10) == 90
    assert (group(add.s(i, i) for i in range(10)) | xsum.s())().get(timeout=10) == 90
    workflow = add.s(1, 1) | group(mul.s(i) for i in range(3))
    assert workflow().get(timeout=10) == [0, 2, 4]


def test_canvas_section(proj: ModuleType, start_worker: Any) -> None:
    start_worker("-c", "4")
    run_canvas_section(proj)


def test_chord_of_a_thousand_runs_its_body_once_with_two_workers(
    proj: ModuleType, extra: ModuleType, start_worker: Any, project_dir: Path
) -> None:
    from proj.celeriac import app

    start_worker("-c", "2", "-n", "w1@%h", "-I", "proj.extra")
    start_worker("-c", "2", "-n", "w2@%h", "-I", "proj.extra")
    runs = project_dir / "body-runs.txt"
    result = chord((proj.add.s(i, i) for i in range(1000)), extra.tally.s(str(runs)))()
    expected = sum(2 * i for i in range(1000))
    assert result.get(timeout=60) == expected
    assert result.parent is not None and result.parent.completed_count() == 1000
    assert wait_until(lambda: app.broker.size("celery") == 0)
    assert runs.read_text().splitlines() == [str(expected)]
