#!/usr/bin/env python3
"""Set up and run celeriac with nothing but Python: ``python3 dev.py demo|test|bench|setup``.

Creates ``.venv`` on first use (and again when pyproject.toml changes), installs
celeriac with its test extras there, then runs the demo or the checks and tests.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".celeriac-installed"
EXTRAS = "test,redis,amqp,docs"
LINTED = ("src", "tests", "examples", "docs/_gen", "bench", "dev.py")


def run(*args: str | Path, cwd: Path = ROOT) -> None:
    """Run a command; stop with its exit code if it fails."""
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=cwd)
    if code != 0:
        sys.exit(code)


def ensure_venv() -> None:
    """Create .venv and install celeriac[test,redis] into it when needed."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"+ creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "-q", "-e", f".[{EXTRAS}]")
    STAMP.write_text(wanted)


def demo() -> None:
    """Start a worker on the embedded broker and make the guide's calls."""
    run(BIN / "celeriac", "-A", "proj", "demo", cwd=ROOT / "examples")


def test(pytest_args: list[str]) -> None:
    """Lint, type-check, check import contracts, then run every test."""
    run(BIN / "ruff", "check", *LINTED)
    run(BIN / "ruff", "format", "--check", *LINTED)
    run(BIN / "mypy")
    run(BIN / "lint-imports")
    build_docs()
    run(BIN / "pytest", *pytest_args)


def bench(bench_args: list[str]) -> None:
    """Install the bench extra (Celery, py-spy) and run the benchmark (docs/performance.md)."""
    run(BIN / "python", "-m", "pip", "install", "-q", "-e", ".[bench]")
    run(BIN / "python", "-m", "bench", *bench_args)


def build_docs() -> None:
    """Build the documentation site strictly (a warning fails), into a throwaway directory."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's banner is not a warning
    with tempfile.TemporaryDirectory() as site_dir:
        run(BIN / "mkdocs", "build", "--strict", "--quiet", "--site-dir", site_dir)


def main() -> None:
    """Dispatch ``demo``, ``test``, ``bench`` or ``setup`` (install only)."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "bench", "setup"}:
        sys.exit("usage: python3 dev.py demo|test|bench|setup [pytest or bench args...]")
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_venv()
    if command == "demo":
        demo()
    elif command == "test":
        test(rest)
    elif command == "bench":
        bench(rest)


if __name__ == "__main__":
    main()
