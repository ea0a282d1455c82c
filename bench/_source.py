"""Which celeriac is measured: the last commit (default), the working tree, or a path.

Others edit the working tree while a benchmark runs; measuring ``HEAD`` exported with
``git archive`` keeps a run reproducible and independent of half-finished edits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def prepare(source: str, workdir: Path) -> tuple[Path | None, dict[str, Any]]:
    """The src/ directory to put first on PYTHONPATH (None: the installed one), and what it is.

    ``source`` is ``head`` (the current commit, exported under ``workdir``), ``tree`` (the
    working tree as installed in the venv) or a path to a ``src`` directory.
    """
    if source == "head":
        commit = _git("rev-parse", "HEAD")
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "src"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
        return workdir / "src", {"source": "head", "commit": commit}
    if source == "tree":
        dirty = bool(_git("status", "--porcelain", "--", "src"))
        return None, {"source": "working tree", "commit": _git("rev-parse", "HEAD"), "dirty": dirty}
    return Path(source).resolve(), {"source": str(Path(source).resolve())}
