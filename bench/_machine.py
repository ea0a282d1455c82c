"""What the numbers were measured on: CPU, memory, Python, Redis, package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("celeriac", "celery", "kombu", "billiard", "redis", "hiredis")


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine(redis_info: dict[str, Any]) -> dict[str, Any]:
    """A description of this machine and the software under test."""
    return {
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": redis_info.get("redis_version"),
        "packages": {name: _version(name) for name in PACKAGES},
        "loadavg_start": os.getloadavg(),
    }
