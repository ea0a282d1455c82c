"""The live stream: Server-Sent Events telling the pages what changed.

One stream per browser tab. Every half second it sends the task rows changed since the
tab's last change number (``tasks``), or ``reset`` when the tab fell too far behind and
must reload; every second a ``tick`` with the counts, the newest chart points, the
workers and the queue lengths. It ends when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from typing import Any

from aiohttp import web

from celeriac.dashboard.cluster import Dashboard
from celeriac.dashboard.views import task_row

__all__ = ["CLOSING_KEY", "DASHBOARD_KEY", "stream"]

logger = logging.getLogger(__name__)

DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)
#: Set when the server shuts down: streams end.
CLOSING_KEY = web.AppKey("closing", asyncio.Event)
#: Seconds between two looks at the change log, and between two ticks.
STREAM_POLL = 0.5
STREAM_TICK = 1.0
#: Most changed tasks sent in one message (more means: reload).
STREAM_BATCH = 500
_dumps = functools.partial(json.dumps, default=repr, separators=(",", ":"))


async def _send(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(f"event: {event}\ndata: {_dumps(data)}\n\n".encode())


def _changed_rows(dash: Dashboard, seq: int) -> tuple[int, list[dict[str, Any]] | None]:
    latest, changed = dash.monitor.changes_since(seq)
    if changed is None or len(changed) > STREAM_BATCH:
        return latest, None
    found = (dash.monitor.state.tasks.get(uuid) for uuid in changed)
    return latest, [task_row(t) for t in found if t is not None]


def _tick(dash: Dashboard) -> dict[str, Any]:
    return {
        **dash.summary(),
        "series": dash.monitor.series.points()[-3:],
        "worker_rows": dash.workers(),
        "queue_rows": [{k: q[k] for k in ("name", "length")} for q in dash.queue_rows()],
    }


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: changed task rows, ``reset`` when too far behind, ``tick``s."""
    dash = request.app[DASHBOARD_KEY]
    closing = request.app[CLOSING_KEY]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    try:
        seq = int(request.query.get("seq", dash.monitor.seq))
    except ValueError:
        seq = dash.monitor.seq
    loop = asyncio.get_running_loop()
    next_tick = 0.0
    try:
        await response.write(b"retry: 2000\n\n")
        while not closing.is_set():
            seq, rows = await asyncio.to_thread(_changed_rows, dash, seq)
            if rows is None:
                await _send(response, "reset", {"seq": seq})
            elif rows:
                await _send(response, "tasks", {"seq": seq, "tasks": rows})
            if loop.time() >= next_tick:
                await _send(response, "tick", await asyncio.to_thread(_tick, dash))
                next_tick = loop.time() + STREAM_TICK
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closing.wait(), STREAM_POLL)
    except (ConnectionResetError, ConnectionError):
        logger.debug("Dashboard: a live stream closed")
    return response
