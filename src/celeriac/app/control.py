"""``app.control``: broadcast remote-control commands to workers and collect replies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.brokers.base import Mailbox

__all__ = ["Control", "Inspect", "flatten_reply"]

ReplyCallback = Callable[[dict[str, Any]], None]


def flatten_reply(replies: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge ``[{node: reply}, ...]`` into ``{node: reply}``."""
    merged: dict[str, Any] = {}
    for reply in replies:
        merged.update(reply)
    return merged


def _destinations(destination: str | Iterable[str] | None) -> list[str] | None:
    if destination is None:
        return None
    if isinstance(destination, str):
        return [part.strip() for part in destination.split(",") if part.strip()]
    return list(destination)


class Control:
    """Celery's ``app.control``: send commands to workers (``revoke``, ``ping`` ...)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._mailbox: Mailbox | None = None

    @property
    def mailbox(self) -> Mailbox:
        """The broker's remote-control mailbox, opened on first use."""
        if self._mailbox is None:
            self._mailbox = self.app.broker.mailbox()
        return self._mailbox

    def close(self) -> None:
        """Release the mailbox."""
        if self._mailbox is not None:
            self._mailbox.close()
            self._mailbox = None

    def inspect(
        self,
        destination: str | Iterable[str] | None = None,
        timeout: float = 1.0,
        callback: ReplyCallback | None = None,
        limit: int | None = None,
        pattern: str | None = None,
        matcher: str | None = None,
        **_: Any,
    ) -> Inspect:
        """An :class:`Inspect` for these workers."""
        return Inspect(self, destination, timeout, callback, limit, pattern, matcher)

    def broadcast(
        self,
        command: str,
        arguments: dict[str, Any] | None = None,
        destination: str | Iterable[str] | None = None,
        reply: bool = False,
        timeout: float = 1.0,
        limit: int | None = None,
        callback: ReplyCallback | None = None,
        pattern: str | None = None,
        matcher: str | None = None,
        **extra: Any,
    ) -> list[dict[str, Any]] | None:
        """Send ``command`` to the workers; with ``reply``, return their replies.

        Replies are collected until ``timeout`` passes, or until ``limit`` replies (by
        default one per ``destination`` node, when destinations are given) arrived.
        """
        nodes = _destinations(destination)
        body: dict[str, Any] = {
            "method": command,
            "arguments": {**(arguments or {}), **extra},
            "destination": nodes,
            "pattern": pattern,
            "matcher": matcher,
        }
        mailbox = self.mailbox
        expires = time.time() + timeout if timeout else None
        if not reply:
            mailbox.broadcast(body, expires=expires)
            return None
        reply_key = uuid.uuid4().hex
        ticket = str(uuid.uuid4())
        body["ticket"] = ticket
        body["reply_to"] = mailbox.prepare_replies(reply_key)
        if limit is None and nodes:
            limit = len(nodes)
        try:
            mailbox.broadcast(body, expires=expires)
            replies = mailbox.collect(reply_key, ticket, timeout=timeout, limit=limit)
        finally:
            mailbox.release_replies(reply_key)
        if callback is not None:
            for item in replies:
                callback(item)
        return replies

    # -- shortcuts, as in Celery -----------------------------------------------------

    def ping(
        self, destination: str | Iterable[str] | None = None, timeout: float = 1.0, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """``[{node: {"ok": "pong"}}, ...]`` from the workers that answered."""
        return (
            self.broadcast("ping", reply=True, destination=destination, timeout=timeout, **kwargs)
            or []
        )

    def revoke(
        self,
        task_id: str | Iterable[str],
        destination: str | Iterable[str] | None = None,
        terminate: bool = False,
        signal: str = "SIGTERM",
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """Revoke tasks: workers refuse them, now and after restarts (durably stored)."""
        ids = [task_id] if isinstance(task_id, str) else list(task_id)
        self.mailbox.store_revoked(ids)
        return self.broadcast(
            "revoke",
            destination=destination,
            arguments={"task_id": ids, "terminate": terminate, "signal": signal},
            **kwargs,
        )

    def rate_limit(
        self,
        task_name: str,
        rate_limit: str | int | None,
        destination: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """Change a task's rate limit on the workers (``"10/m"``; ``None`` turns it off)."""
        return self.broadcast(
            "rate_limit",
            destination=destination,
            arguments={"task_name": task_name, "rate_limit": rate_limit},
            **kwargs,
        )

    def time_limit(
        self,
        task_name: str,
        soft: float | None = None,
        hard: float | None = None,
        destination: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """Change a task's time limits on the workers."""
        return self.broadcast(
            "time_limit",
            destination=destination,
            arguments={"task_name": task_name, "soft": soft, "hard": hard},
            **kwargs,
        )

    def add_consumer(
        self,
        queue: str,
        exchange: str | None = None,
        exchange_type: str = "direct",
        routing_key: str | None = None,
        options: dict[str, Any] | None = None,
        destination: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """Make the workers consume ``queue`` too."""
        arguments = {
            "queue": queue,
            "exchange": exchange,
            "exchange_type": exchange_type,
            "routing_key": routing_key,
            **(options or {}),
        }
        return self.broadcast(
            "add_consumer", destination=destination, arguments=arguments, **kwargs
        )

    def cancel_consumer(
        self, queue: str, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Make the workers stop consuming ``queue``."""
        return self.broadcast(
            "cancel_consumer", destination=destination, arguments={"queue": queue}, **kwargs
        )

    def shutdown(
        self, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Ask the workers for a warm shutdown."""
        return self.broadcast("shutdown", destination=destination, **kwargs)


class Inspect:
    """Celery's ``app.control.inspect()``: read-only questions to the workers.

    Each method returns ``{node: reply}``, ``None`` when no worker replied, or the one
    reply itself when a single node name was given as ``destination``.
    """

    def __init__(
        self,
        control: Control,
        destination: str | Iterable[str] | None,
        timeout: float,
        callback: ReplyCallback | None,
        limit: int | None,
        pattern: str | None,
        matcher: str | None,
    ) -> None:
        self.control = control
        self.destination = destination
        self.timeout = timeout
        self.callback = callback
        self.limit = limit
        self.pattern = pattern
        self.matcher = matcher

    def _request(self, command: str, **arguments: Any) -> Any:
        replies = self.control.broadcast(
            command,
            arguments=arguments,
            destination=self.destination,
            reply=True,
            timeout=self.timeout,
            limit=self.limit,
            callback=self.callback,
            pattern=self.pattern,
            matcher=self.matcher,
        )
        if not replies:
            return None
        by_node = flatten_reply(replies)
        if isinstance(self.destination, str) and "," not in self.destination:
            return by_node.get(self.destination)
        return by_node

    def active(self, safe: bool | None = None) -> Any:
        """Tasks being executed."""
        return self._request("active", safe=safe)

    def reserved(self, safe: bool | None = None) -> Any:
        """Tasks leased by the workers but not started."""
        return self._request("reserved", safe=safe)

    def scheduled(self, safe: bool | None = None) -> Any:
        """ETA/countdown tasks held by the workers."""
        return self._request("scheduled", safe=safe)

    def revoked(self) -> Any:
        """Revoked task ids."""
        return self._request("revoked")

    def registered(self, *taskinfoitems: str) -> Any:
        """Registered task names (with the listed attributes)."""
        return self._request("registered", taskinfoitems=list(taskinfoitems))

    registered_tasks = registered

    def stats(self) -> Any:
        """Worker statistics."""
        return self._request("stats")

    def ping(self, destination: str | None = None) -> Any:
        """``{node: {"ok": "pong"}}``."""
        return self._request("ping")

    def active_queues(self) -> Any:
        """The queues each worker consumes."""
        return self._request("active_queues")

    def query_task(self, *ids: str) -> Any:
        """Where these task ids are on the workers."""
        return self._request("query_task", ids=list(ids))

    def conf(self, with_defaults: bool = False) -> Any:
        """The workers' settings (secrets masked)."""
        return self._request("conf", with_defaults=with_defaults)

    def report(self) -> Any:
        """A bug-report text per worker."""
        return self._request("report")

    def clock(self) -> Any:
        """The workers' logical clocks."""
        return self._request("clock")

    def memsample(self) -> Any:
        """Resident memory per worker."""
        return self._request("memsample")
