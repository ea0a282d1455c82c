"""A fake cluster for the dashboard's tests: a node answering remote control, and events.

:class:`FakeNode` answers the mailbox like a worker would (``stats``, ``active_queues``,
``registered``, ``pool_grow`` ...) and records every command it got, so a test can check
what a button sent. :class:`EventScript` publishes the events of a worker and its tasks
through the real :class:`~celeriac.events.EventDispatcher`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celeriac import Celery
from celeriac.events import EventDispatcher

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "proj/tasks.py", line 9, in fail\n'
    "    raise ValueError('boom')\n"
    "ValueError: boom\n"
)


class FakeNode:
    """Answers remote-control commands addressed to ``hostname``, in a thread."""

    def __init__(
        self, app: Celery, hostname: str, *, queues: tuple[str, ...] = ("celery",)
    ) -> None:
        self.app = app
        self.hostname = hostname
        self.queues = queues
        self.concurrency = 4
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self._seen = threading.Condition()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _reply(self, method: str, arguments: dict[str, Any]) -> Any:
        if method == "pool_grow":
            self.concurrency += int(arguments.get("n", 1))
            return {"ok": f"pool will grow to {self.concurrency}"}
        if method == "pool_shrink":
            self.concurrency -= int(arguments.get("n", 1))
            return {"ok": f"pool will shrink to {self.concurrency}"}
        replies: dict[str, Any] = {
            "ping": {"ok": "pong"},
            "stats": {
                "pool": {
                    "implementation": "celeriac.pools.threads",
                    "max-concurrency": self.concurrency,
                },
                "total": {"proj.add": 3},
                "pid": 4242,
                "prefetch_count": 16,
                "uptime": 12,
                "sw_ident": "celeriac",
                "sw_ver": "0.1.0",
            },
            "active_queues": [{"name": q} for q in self.queues],
            "registered": ["proj.add", "proj.mul [rate_limit=10/m]"],
            "rate_limit": {"ok": "new rate limit set successfully"},
            "revoke": {"ok": f"tasks {arguments.get('task_id')} flagged as revoked"},
        }
        return replies.get(method, {"error": f"No such control command: {method}"})

    async def _serve(self) -> None:
        mailbox = self.app.broker.mailbox()
        try:
            await mailbox.afetch_commands(self.hostname, timeout=0)
            self._listening.set()
            while not self._stop.is_set():
                for command in await mailbox.afetch_commands(self.hostname, timeout=0.1):
                    await self._answer(mailbox, command)
        finally:
            mailbox.close()

    async def _answer(self, mailbox: Any, command: dict[str, Any]) -> None:
        destination = command.get("destination")
        if destination and self.hostname not in destination:
            return
        method = str(command.get("method"))
        arguments = dict(command.get("arguments") or {})
        with self._seen:
            self.commands.append((method, arguments))
            self._seen.notify_all()
        reply_to, ticket = command.get("reply_to"), command.get("ticket")
        if reply_to and ticket:
            await mailbox.areply(
                reply_to, str(ticket), self.hostname, self._reply(method, arguments)
            )

    def _run(self) -> None:
        asyncio.run(self._serve())

    def wait_for(self, method: str, timeout: float = 10.0) -> dict[str, Any]:
        """The arguments of the first ``method`` command received (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for name, arguments in self.commands:
                    if name == method:
                        return arguments
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.hostname} got no {method!r}: {self.commands}")
                self._seen.wait(remaining)

    @contextmanager
    def running(self) -> Iterator[FakeNode]:
        """Answer commands until the block ends."""
        self._thread.start()
        if not self._listening.wait(10):
            raise RuntimeError("the fake node did not start listening")
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(10)


class EventScript:
    """Publishes the events of one worker and its tasks, as a worker would."""

    def __init__(self, app: Celery, hostname: str) -> None:
        self.hostname = hostname
        self.dispatcher = EventDispatcher(app.broker.event_channel(), hostname=hostname)

    def heartbeat(
        self, kind: str = "worker-heartbeat", *, active: int = 0, processed: int = 0
    ) -> None:
        """``worker-online``, ``worker-heartbeat`` or ``worker-offline``."""
        self.dispatcher.send(
            kind, **self.dispatcher.worker_fields(freq=2.0, active=active, processed=processed)
        )

    def task(
        self,
        name: str,
        *,
        args: str = "()",
        kwargs: str = "{}",
        outcome: str = "succeeded",
        runtime: float = 0.01,
        task_id: str | None = None,
        parent_id: str | None = None,
        root_id: str | None = None,
        result: str = "None",
    ) -> str:
        """One task from received to ``outcome`` (``succeeded``, ``failed``, ``started``)."""
        task_id = task_id or str(uuid.uuid4())
        send: Callable[..., None] = self.dispatcher.send_task_event
        send(
            "task-received",
            uuid=task_id,
            name=name,
            args=args,
            kwargs=kwargs,
            root_id=root_id or task_id,
            parent_id=parent_id,
            retries=0,
        )
        send("task-started", uuid=task_id)
        if outcome == "succeeded":
            send("task-succeeded", uuid=task_id, result=result, runtime=runtime)
        elif outcome == "failed":
            send(
                "task-failed",
                uuid=task_id,
                exception="ValueError('boom')",
                traceback=TRACEBACK,
            )
        self.dispatcher.flush()
        return task_id
