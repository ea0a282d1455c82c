"""The start-up banner, in the shape Celery prints it."""

from __future__ import annotations

import datetime as dt
import platform
from typing import TYPE_CHECKING

from celeriac import __version__
from celeriac._internal.naming import mask_url

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.routing import Queue

__all__ = ["CODENAME", "banner"]

CODENAME = "root"


def banner(
    app: Celery,
    *,
    hostname: str,
    queues: list[Queue],
    concurrency: int | str,
    pool_name: str,
    events: bool,
    now: dt.datetime | None = None,
) -> str:
    """The banner text: node and version, platform, ``[config]``, ``[queues]``, ``[tasks]``."""
    now = now or dt.datetime.now()
    main = app.main or "__main__"
    results = app.conf.result_backend
    lines = [
        f"{hostname} v{__version__} ({CODENAME})",
        "",
        f"{platform.platform()} {now:%Y-%m-%d %H:%M:%S}",
        "",
        "[config]",
        f".> app:         {main}:{id(app):#x}",
        f".> transport:   {mask_url(app.broker_url)}",
        f".> results:     {mask_url(results) if results else 'disabled://'}",
        f".> concurrency: {concurrency} ({pool_name})",
        f".> task events: {'ON' if events else 'OFF (enable -E to monitor tasks in this worker)'}",
        "",
        "[queues]",
    ]
    for queue in queues:
        exchange = f"{queue.exchange_name}({queue.exchange_type})"
        lines.append(f".> {queue.name:<16} exchange={exchange} key={queue.key}")
    lines += ["", "", "[tasks]"]
    lines += [f"  . {name}" for name in app.tasks.regular()]
    return "\n".join(lines) + "\n"
