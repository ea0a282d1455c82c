"""The pool conformance suites on every pool whose jobs run side by side.

The greenlet pools need a process patched before anything was imported, which this
one is not: their suites (tests/contract/green_suites.py) run in a pytest process that
patches first, started by the tests at the end of this file.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from celeriac.pools.base import Pool, Target
from celeriac.pools.prefork import PreforkPool
from celeriac.pools.threads import ThreadPool
from celeriac.testing.conformance import (
    PoolConformance,
    PoolFactory,
    SupervisingPoolConformance,
)

ROOT = Path(__file__).resolve().parents[2]
GREEN_SUITES = Path(__file__).with_name("green_suites.py")
PATCH = {
    "gevent": "from gevent import monkey; monkey.patch_all()",
    "eventlet": "import eventlet; eventlet.monkey_patch()",
}


class TestThreadPool(PoolConformance):
    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        def make(concurrency: int, target: Target) -> Pool:
            return ThreadPool(concurrency=concurrency, target=target)

        return make


class TestPreforkPool(SupervisingPoolConformance):
    @pytest.fixture
    def pool_factory(self) -> PoolFactory:
        def make(concurrency: int, target: Target) -> Pool:
            return PreforkPool(concurrency=concurrency, target=target)

        return make


@pytest.mark.parametrize("library", ["gevent", "eventlet"])
def test_greenlet_pool_passes_the_suite_in_a_patched_process(library: str) -> None:
    if importlib.util.find_spec(library) is None:
        pytest.fail(f"{library} is not installed: pip install -e '.[test]'")
    suite = f"{GREEN_SUITES}::Test{library.capitalize()}Pool"
    program = (
        f"{PATCH[library]}\n"
        "import sys, pytest\n"
        f"sys.exit(pytest.main([{suite!r}, '-q', '-p', 'no:cacheprovider']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout
