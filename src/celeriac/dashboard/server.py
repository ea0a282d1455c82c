"""The dashboard's HTTP side (aiohttp): pages, the JSON API, the live stream, /metrics.

Routes (all under the dashboard's root, so a proxy may mount it under a prefix):

=======  ============================  ==============================================
GET      ``/``                         the single-page app (``static/index.html``)
GET      ``/metrics``                  Prometheus text
GET      ``/healthz``                  ``ok``, without credentials
GET      ``/api/overview``             counts, chart series, task types, failures
GET      ``/api/workers``              workers (``POST .../refresh`` asks them now)
GET      ``/api/queues``               queue lengths, consumers, recent lengths
GET      ``/api/tasks``                filtered live table (``state name worker search``)
GET      ``/api/tasks/{id}``           one task, live or from the result backend
GET      ``/api/task-names``           names for the send form
GET      ``/api/stream``               Server-Sent Events: ``tasks``, ``reset``, ``tick``
POST     ``/api/tasks/send``           ``{name, args, kwargs, queue, countdown}``
POST     ``/api/tasks/{id}/retry``     send again with the same arguments
POST     ``/api/tasks/{id}/revoke``    ``{terminate, signal}``
POST     ``/api/workers/{name}/pool``  ``{action: grow|shrink, n}``
POST     ``/api/rate-limit``           ``{task_name, rate_limit, worker}``
=======  ============================  ==============================================

Anything that may block (the result backend, remote control, the broker) runs in a
worker thread, so the event loop only ever serves.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from celeriac.dashboard import actions
from celeriac.dashboard.auth import add_security_headers, security_middleware
from celeriac.dashboard.cluster import Dashboard
from celeriac.dashboard.stream import CLOSING_KEY, DASHBOARD_KEY, stream
from celeriac.dashboard.views import filter_tasks, task_detail
from celeriac.exceptions import CeleriacError
from celeriac.metrics import CONTENT_TYPE

__all__ = ["DASHBOARD_KEY", "DashboardServer", "create_app"]

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
_dumps = functools.partial(json.dumps, default=repr, separators=(",", ":"))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


async def _blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a thread; bad input becomes 400, an unknown task 404, broker trouble 502."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text=_dumps({"error": str(exc)}), content_type="application/json"
        ) from exc
    except actions.TaskNotFound as exc:
        raise web.HTTPNotFound(
            text=_dumps({"error": str(exc)}), content_type="application/json"
        ) from exc
    except CeleriacError as exc:
        raise web.HTTPBadGateway(
            text=_dumps({"error": f"{type(exc).__name__}: {exc}"}), content_type="application/json"
        ) from exc


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=_dumps({"error": f"bad JSON: {exc}"})) from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=_dumps({"error": "send a JSON object"}))
    return data


def _dash(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD_KEY]


# -- pages and reads ---------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    """The single-page app."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.Response:
    """``ok``."""
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    text = await _blocking(_dash(request).metrics.render)
    response = web.Response(text=text)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


async def overview(request: web.Request) -> web.Response:
    """Counts, series, task types, recent failures."""
    return _json(await _blocking(_dash(request).overview))


async def workers(request: web.Request) -> web.Response:
    """The workers."""
    return _json({"workers": await _blocking(_dash(request).workers)})


async def refresh_workers(request: web.Request) -> web.Response:
    """Ask the workers now, then list them."""
    dash = _dash(request)
    await _blocking(dash.inspector.tick)
    return _json({"workers": await _blocking(dash.workers)})


async def queues(request: web.Request) -> web.Response:
    """The queues."""
    return _json({"queues": await _blocking(_dash(request).queue_rows)})


async def tasks(request: web.Request) -> web.Response:
    """The task table, filtered."""
    dash, query = _dash(request), request.query
    try:
        limit = max(1, min(5000, int(query.get("limit", "500"))))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=_dumps({"error": "limit must be a number"})) from exc
    seq = dash.monitor.seq
    total, rows = await _blocking(
        filter_tasks,
        dash.monitor.state,
        task_state=query.get("state") or None,
        name=query.get("name") or None,
        worker=query.get("worker") or None,
        search=query.get("search") or None,
        limit=limit,
    )
    return _json({"seq": seq, "total": total, "tasks": rows})


async def task(request: web.Request) -> web.Response:
    """One task's detail."""
    dash, task_id = _dash(request), request.match_info["task_id"]
    detail = await _blocking(task_detail, dash.app, dash.monitor.state, task_id)
    if detail is None:
        return _json({"error": f"no task {task_id} in events or in the result backend"}, 404)
    return _json(detail)


async def task_names(request: web.Request) -> web.Response:
    """Known task names."""
    return _json({"names": await _blocking(_dash(request).task_names)})


# -- actions -----------------------------------------------------------------------------


async def send(request: web.Request) -> web.Response:
    """Send a task by name."""
    dash, body = _dash(request), await _body(request)
    result = await _blocking(
        actions.send_task,
        dash.app,
        dash.monitor,
        body.get("name"),
        body.get("args"),
        body.get("kwargs"),
        queue=body.get("queue"),
        countdown=body.get("countdown"),
    )
    return _json(result)


async def retry(request: web.Request) -> web.Response:
    """Send a task again."""
    dash = _dash(request)
    result = await _blocking(
        actions.retry_task, dash.app, dash.monitor, request.match_info["task_id"]
    )
    return _json(result)


async def revoke(request: web.Request) -> web.Response:
    """Revoke (and maybe terminate) a task."""
    dash, body = _dash(request), await _body(request)
    result = await _blocking(
        actions.revoke_task,
        dash.app,
        request.match_info["task_id"],
        terminate=bool(body.get("terminate")),
        signal=body.get("signal") or "SIGTERM",
        timeout=dash.options.control_timeout,
    )
    return _json(result)


async def pool(request: web.Request) -> web.Response:
    """Grow or shrink a worker's pool."""
    dash, body = _dash(request), await _body(request)
    result = await _blocking(
        actions.resize_pool,
        dash.app,
        request.match_info["hostname"],
        action=body.get("action"),
        n=body.get("n", 1),
        timeout=dash.options.control_timeout,
    )
    dash.inspector.poke()
    return _json(result)


async def rate_limit(request: web.Request) -> web.Response:
    """Set a task's rate limit."""
    dash, body = _dash(request), await _body(request)
    result = await _blocking(
        actions.set_rate_limit,
        dash.app,
        body.get("task_name"),
        body.get("rate_limit"),
        worker=body.get("worker"),
        timeout=dash.options.control_timeout,
    )
    return _json(result)


# -- the application ---------------------------------------------------------------------


def create_app(dashboard: Dashboard) -> web.Application:
    """The aiohttp application serving ``dashboard`` (not started: see :class:`DashboardServer`)."""
    options = dashboard.options
    app = web.Application(middlewares=[security_middleware(options)])
    app[DASHBOARD_KEY] = dashboard
    app[CLOSING_KEY] = asyncio.Event()
    app.on_response_prepare.append(add_security_headers)

    async def on_shutdown(app: web.Application) -> None:
        app[CLOSING_KEY].set()

    app.on_shutdown.append(on_shutdown)
    routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("GET", "/", index),
        ("GET", "/healthz", healthz),
        ("GET", "/metrics", metrics),
        ("GET", "/api/overview", overview),
        ("GET", "/api/workers", workers),
        ("POST", "/api/workers/refresh", refresh_workers),
        ("POST", "/api/workers/{hostname}/pool", pool),
        ("GET", "/api/queues", queues),
        ("GET", "/api/tasks", tasks),
        ("POST", "/api/tasks/send", send),
        ("GET", "/api/tasks/{task_id}", task),
        ("POST", "/api/tasks/{task_id}/retry", retry),
        ("POST", "/api/tasks/{task_id}/revoke", revoke),
        ("GET", "/api/task-names", task_names),
        ("POST", "/api/rate-limit", rate_limit),
        ("GET", "/api/stream", stream),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app


class DashboardServer:
    """Runs a :class:`Dashboard` and its web server, in a thread or in the foreground.

    Args:
        dashboard: What to serve.
    """

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None
        self.port = dashboard.options.port

    @property
    def url(self) -> str:
        """The dashboard's base URL (``http://host:port/``)."""
        host = self.dashboard.options.address or "localhost"
        return f"http://{host}:{self.port}/"

    async def _start(self) -> None:
        options = self.dashboard.options
        self._runner = web.AppRunner(create_app(self.dashboard), shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, options.address or None, options.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve until :meth:`stop`, :meth:`request_stop` or cancellation."""
        self._stopped = asyncio.Event()
        self.dashboard.start()
        try:
            await self._start()
            logger.info("Dashboard on %s", self.url)
            if on_started is not None:
                on_started()
            await self._stopped.wait()
        finally:
            await self._cleanup()
            self.dashboard.stop()

    def request_stop(self) -> None:
        """Stop serving; call it from the server's own event loop (a signal handler)."""
        if self._stopped is not None:
            self._stopped.set()

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a background thread; return once the port is bound.

        Raises:
            RuntimeError: the server did not start in ``timeout`` seconds.
        """
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            try:
                self._loop.run_until_complete(self.serve(on_started=ready.set))
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="celeriac-dashboard", daemon=True)
        self._thread.start()
        started = ready.wait(timeout)
        if failure:
            raise RuntimeError("the dashboard did not start") from failure[0]
        if not started:
            raise RuntimeError(f"the dashboard did not start in {timeout} seconds")

    def stop(self) -> None:
        """Stop serving (from any thread) and wait for the server thread."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
