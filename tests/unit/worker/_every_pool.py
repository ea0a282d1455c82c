"""Fixtures that run a module's tests through the plugin's worker once per pool.

Imported by the modules that want them (not a conftest: the other tests keep the
plugin's default pool).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

POOLS = ["solo", "threads", "prefork", "asyncio"]


@pytest.fixture(params=POOLS)
def celery_worker_pool(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def celery_config(celery_worker_pool: str, tmp_path: Path) -> dict[str, Any]:
    if celery_worker_pool != "prefork":
        return {}
    # Children are processes: the broker and the results must live outside this one.
    return {
        "broker_url": f"sqlite:///{tmp_path / 'broker.sqlite3'}",
        "result_backend": f"sqlite:///{tmp_path / 'results.sqlite3'}",
    }
