"""The sample project's own tests pass with the plugin, run as a user would run them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLE_PROJECT = Path(__file__).parents[2] / "sample_project"


def test_sample_project_tests_pass(tmp_path: Path) -> None:
    # A copy, so that nothing the run writes lands in the repository.
    project = tmp_path / "sample_project"
    shutil.copytree(SAMPLE_PROJECT, project)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert re.search(r"\b10 passed\b", output), output
