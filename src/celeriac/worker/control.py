"""The worker's side of remote control: command handlers and the loop that runs them.

Each handler takes the worker and the command's arguments and returns the reply body
Celery's workers send (``{"ok": "pong"}``, a list of task infos, ...). The loop reads
commands from the broker's mailbox, keeps those addressed to this node (``destination``
list, or ``pattern`` with ``matcher`` ``glob``/``pcre``), runs them and replies when a
reply is wanted. A failing handler answers ``{"error": "<repr>"}``; the loop goes on.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac import __version__
from celeriac._internal.naming import mask_url
from celeriac.exceptions import CeleriacError
from celeriac.worker.tuning import TUNING_HANDLERS, terminate_tasks

if TYPE_CHECKING:
    from celeriac.brokers.base import Mailbox
    from celeriac.protocol import TaskMessage
    from celeriac.worker.worker import Worker

__all__ = ["HANDLERS", "ControlLoop", "is_for_node"]

logger = logging.getLogger(__name__)

Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {}
_SECRET_WORDS = ("password", "secret", "key", "token")
_REVOCABLE = frozenset({"PENDING", "RECEIVED", "RETRY", "REJECTED"})
#: Commands that answer nothing, as in Celery (its workers raise WorkerShutdown there).
_SILENT = frozenset({"shutdown"})


def handler(fn: Handler) -> Handler:
    """Register ``fn`` as the handler of the command named like it."""
    HANDLERS[fn.__name__.removeprefix("do_")] = fn
    return fn


# -- task information ------------------------------------------------------------------


def task_info(worker: Worker, job: Any, *, safe: bool = False) -> dict[str, Any]:
    """Celery's ``TaskInfo`` for a reserved or running job."""
    message: TaskMessage = job.message
    if safe:
        args: Any = message.argsrepr
        kwargs: Any = message.kwargsrepr
    else:
        try:
            args, kwargs, _ = message.decode_body(worker.consumer_accept())
        except CeleriacError:
            args, kwargs = message.argsrepr, message.kwargsrepr
    return {
        "id": message.id,
        "name": message.shadow or message.name,
        "args": args,
        "kwargs": kwargs,
        "type": message.name,
        "hostname": worker.hostname,
        "time_start": getattr(job, "time_start", None),
        "acknowledged": bool(getattr(job, "acked", False)),
        "delivery_info": job.delivery.delivery_info,
        "worker_pid": getattr(job, "worker_pid", None),
    }


def _running_ids(worker: Worker) -> set[str]:
    consumer = worker.consumer
    return {job.message.id for job in consumer.active.values()} if consumer is not None else set()


@handler
def do_ping(worker: Worker) -> Any:
    return {"ok": "pong"}


@handler
def do_clock(worker: Worker) -> Any:
    return {"clock": worker.clock}


@handler
def do_active(worker: Worker, safe: bool | None = None) -> Any:
    consumer = worker.consumer
    jobs = list(consumer.active.values()) if consumer is not None else []
    return [task_info(worker, job, safe=bool(safe)) for job in jobs]


@handler
def do_reserved(worker: Worker, safe: bool | None = None) -> Any:
    consumer = worker.consumer
    jobs = consumer.waiting() if consumer is not None else []
    return [task_info(worker, job, safe=bool(safe)) for job in jobs]


@handler
def do_scheduled(worker: Worker, safe: bool | None = None) -> Any:
    # ETA tasks wait in the broker until due, never in a worker.
    return []


@handler
def do_revoked(worker: Worker) -> Any:
    return sorted(worker.revoked)


@handler
def do_registered(worker: Worker, taskinfoitems: list[str] | None = None) -> Any:
    items = taskinfoitems or []
    names = []
    for name in worker.app.tasks.regular():
        task = worker.app.tasks[name]
        fields = [
            f"{item}={getattr(task, item)}"
            for item in items
            if getattr(task, item, None) is not None
        ]
        names.append(f"{name} [{' '.join(fields)}]" if fields else name)
    return names


@handler
def do_query_task(worker: Worker, ids: list[str] | None = None) -> Any:
    wanted = set(ids or [])
    found: dict[str, Any] = {}
    consumer = worker.consumer
    if consumer is None:
        return found
    for state, jobs in (("active", consumer.active.values()), ("reserved", consumer.waiting())):
        for job in jobs:
            if job.message.id in wanted:
                found[job.message.id] = [state, task_info(worker, job)]
    return found


@handler
def do_active_queues(worker: Worker) -> Any:
    consumer = worker.consumer
    names = set(consumer.queues) if consumer is not None else {q.name for q in worker.queues}
    return [worker.app.router.queue(name).as_dict() for name in sorted(names)]


def _masked(key: str, value: Any) -> Any:
    """``value`` with secrets hidden: URLs' passwords, and any secret-named entry, nested."""
    if any(word in key.lower() for word in _SECRET_WORDS) and value:
        return "********"
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, dict):
        return {k: _masked(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(key, item) for item in value]
    return value


@handler
def do_conf(worker: Worker, with_defaults: bool = False) -> Any:
    settings = worker.app.conf.humanize(with_defaults=with_defaults)
    return {key: _masked(key, value) for key, value in settings.items() if not key.startswith("_")}


def _rusage() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "utime": usage.ru_utime,
        "stime": usage.ru_stime,
        "maxrss": usage.ru_maxrss,
        "minflt": usage.ru_minflt,
        "majflt": usage.ru_majflt,
        "nvcsw": usage.ru_nvcsw,
        "nivcsw": usage.ru_nivcsw,
    }


def _pool_info(worker: Worker) -> dict[str, Any]:
    """The pool's stats, ``max-concurrency`` as it is now (after ``pool_grow`` ...)."""
    pool = worker.pool
    if pool is None:
        return {}
    ceiling = worker.autoscaler.max_concurrency if worker.autoscaler is not None else pool.limit
    return {**pool.info(), "max-concurrency": ceiling}


@handler
def do_stats(worker: Worker) -> Any:
    consumer = worker.consumer
    return {
        "total": dict(worker.stats.total),
        "pid": os.getpid(),
        "clock": str(worker.clock),
        "uptime": int(time.monotonic() - worker.started_at),
        "pool": _pool_info(worker),
        "broker": {
            "transport": worker.app.broker_url.split("://", 1)[0],
            "url": mask_url(worker.app.broker_url),
        },
        "prefetch_count": consumer.prefetch_limit if consumer is not None else 0,
        "rusage": _rusage(),
        "sw_ident": "celeriac",
        "sw_ver": __version__,
        **({"autoscaler": worker.autoscaler.info()} if worker.autoscaler is not None else {}),
    }


@handler
def do_memsample(worker: Worker) -> Any:
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.2f}MiB"


@handler
def do_report(worker: Worker) -> Any:
    text = (
        f"software -> celeriac:{__version__} py:{platform.python_version()}\n"
        f"            {platform.python_implementation()} {sys.version.split()[0]}\n"
        f"platform -> system:{platform.system()} arch:{platform.machine()}\n"
        f"broker -> {mask_url(worker.app.broker_url)}\n"
        f"results -> {mask_url(worker.app.conf.result_backend or 'disabled://')}\n"
    )
    return {"ok": text}


@handler
def do_revoke(
    worker: Worker,
    task_id: str | list[str] | None = None,
    terminate: bool = False,
    signal: str = "SIGTERM",
    **_: Any,
) -> Any:
    ids = [task_id] if isinstance(task_id, str) else list(task_id or [])
    worker.revoke(ids)
    backend = worker.app.backend
    running = _running_ids(worker)
    for one in ids:  # as Celery 5.7: record REVOKED now unless the task already got further
        if one not in running and backend.get_task_meta(one).get("status") in _REVOCABLE:
            backend.mark_as_revoked(one, "revoked")
    if terminate:
        return terminate_tasks(worker, ids, signal)
    return {"ok": f"tasks {', '.join(ids)} flagged as revoked"}


@handler
def do_enable_events(worker: Worker) -> Any:
    events = worker.services.events
    if events is None:
        return {"error": "events are not available on this broker"}
    if events.enabled:
        return {"ok": "task events already enabled"}
    events.enable()
    worker.services.send_worker_event("worker-heartbeat")
    return {"ok": "task events enabled"}


@handler
def do_disable_events(worker: Worker) -> Any:
    events = worker.services.events
    if events is None or not events.enabled:
        return {"ok": "task events already disabled"}
    events.disable()
    return {"ok": "task events disabled"}


@handler
def do_heartbeat(worker: Worker) -> Any:
    # Celery's workers answer None, so ``control heartbeat`` lists who sent one.
    worker.services.send_worker_event("worker-heartbeat")
    return None


@handler
def do_add_consumer(worker: Worker, queue: str, **_: Any) -> Any:
    if worker.consumer is None or queue in worker.consumer.queues:
        return {"ok": f"already consuming from {queue!r}"}
    worker.app.broker.declare_queue(queue)
    worker.consumer.queues.append(queue)
    return {"ok": f"add consumer {queue}"}


@handler
def do_cancel_consumer(worker: Worker, queue: str, **_: Any) -> Any:
    if worker.consumer is None or queue not in worker.consumer.queues:
        return {"error": f"not consuming from {queue}"}
    worker.consumer.queues.remove(queue)
    return {"ok": f"no longer consuming from {queue}"}


@handler
def do_hello(worker: Worker, from_node: str, revoked: Any = None, **_: Any) -> Any:
    """Mingle: a starting worker sends its revoked ids; answer with ours and our clock."""
    if from_node == worker.hostname:
        return None
    logger.info("sync with %s", from_node)
    worker.merge_revoked(revoked)
    return {"revoked": list(worker.revoked), "clock": worker.tick_clock()}


@handler
def do_shutdown(worker: Worker, msg: str | None = None, **_: Any) -> Any:
    logger.warning("Got shutdown from remote")
    worker.request_stop()
    return None


HANDLERS.update(TUNING_HANDLERS)


# -- the loop ----------------------------------------------------------------------------


def is_for_node(command: dict[str, Any], node: str) -> bool:
    """Whether ``command`` is addressed to ``node``."""
    destination = command.get("destination")
    if destination:
        return node in destination
    pattern = command.get("pattern")
    if pattern:
        if command.get("matcher") == "pcre":
            return re.search(pattern, node) is not None
        return fnmatch.fnmatch(node, pattern)
    return True


class ControlLoop:
    """Reads this node's commands from the mailbox and answers them."""

    def __init__(self, worker: Worker, mailbox: Mailbox, *, poll_timeout: float = 1.0) -> None:
        self.worker = worker
        self.mailbox = mailbox
        self.poll_timeout = poll_timeout
        self._listening = False

    async def listen(self) -> None:
        """Start receiving this node's commands (a second call does nothing more)."""
        if not self._listening:
            self._listening = True
            await self.mailbox.afetch_commands(self.worker.hostname, timeout=0)

    async def run(self) -> None:
        """Serve commands until cancelled."""
        node = self.worker.hostname
        await self.listen()
        while True:
            try:
                commands = await self.mailbox.afetch_commands(node, timeout=self.poll_timeout)
            except CeleriacError as exc:
                logger.warning("Remote control: cannot read commands: %s", exc)
                await asyncio.sleep(self.poll_timeout)
                continue
            for command in commands:
                if isinstance(command, dict) and is_for_node(command, node):
                    await self._answer(command)

    async def _answer(self, command: dict[str, Any]) -> None:
        method = str(command.get("method"))
        fn = HANDLERS.get(method)
        arguments = command.get("arguments") or {}
        allowed = self.worker.app.conf.worker_control_allowlist
        try:
            if allowed is not None and method not in allowed:
                logger.warning("Remote control command %s refused: not in the allowlist", method)
                raise PermissionError(f"{method} is not in worker_control_allowlist")
            if fn is None:
                raise KeyError(f"No such control command: {method}")
            reply = fn(self.worker, **arguments)
        except Exception as exc:
            logger.exception("Remote control command %s failed", method)
            reply = {"error": repr(exc)}
        self.worker.tick_clock()
        ticket, reply_to = command.get("ticket"), command.get("reply_to")
        if reply is None and method == "hello":  # not to ourselves (mingle)
            return
        if ticket and isinstance(reply_to, dict) and method not in _SILENT:
            await self.mailbox.areply(reply_to, str(ticket), self.worker.hostname, reply)
