"""``app.control``: broadcast remote-control commands to workers and collect replies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from celeriac.app.inspect import Inspect, ReplyCallback, flatten_reply

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.brokers.base import Mailbox

__all__ = ["Control", "Inspect", "flatten_reply"]


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
        connection: Any = None,
        reply: bool = False,
        timeout: float = 1.0,
        limit: int | None = None,
        callback: ReplyCallback | None = None,
        channel: Any = None,
        pattern: str | None = None,
        matcher: str | None = None,
        **extra: Any,
    ) -> list[dict[str, Any]] | None:
        """Send ``command`` to the workers; with ``reply``, return their replies.

        Replies are collected until ``timeout`` passes, or until ``limit`` replies (by
        default one per ``destination`` node, when destinations are given) arrived.
        ``connection`` and ``channel`` are accepted for Celery's signature: the command
        always travels through the app's broker mailbox. ``extra`` keyword arguments
        join ``arguments``.
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
        """Revoke tasks: workers refuse them, now and after restarts (durably stored).

        With ``terminate``, a worker running one of them stops it with ``signal``.
        """
        ids = [task_id] if isinstance(task_id, str) else list(task_id)
        self.mailbox.store_revoked(ids)
        return self.broadcast(
            "revoke",
            destination=destination,
            arguments={"task_id": ids, "terminate": terminate, "signal": signal},
            **kwargs,
        )

    def terminate(
        self,
        task_id: str | Iterable[str],
        destination: str | Iterable[str] | None = None,
        signal: str = "SIGTERM",
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """:meth:`revoke` with ``terminate=True``: running tasks are stopped too."""
        return self.revoke(
            task_id, destination=destination, terminate=True, signal=signal, **kwargs
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

    def enable_events(
        self, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Make the workers send task events."""
        return self.broadcast("enable_events", destination=destination, **kwargs)

    def disable_events(
        self, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Make the workers stop sending task events."""
        return self.broadcast("disable_events", destination=destination, **kwargs)

    def pool_grow(
        self, n: int = 1, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Grow the workers' pools by ``n`` processes or threads."""
        return self.broadcast("pool_grow", destination=destination, arguments={"n": n}, **kwargs)

    def pool_shrink(
        self, n: int = 1, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Shrink the workers' pools by ``n`` processes or threads."""
        return self.broadcast("pool_shrink", destination=destination, arguments={"n": n}, **kwargs)

    def autoscale(
        self,
        max: int,  # Celery's argument names
        min: int,
        destination: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """Change the autoscale range of the workers started with ``--autoscale``."""
        return self.broadcast(
            "autoscale", destination=destination, arguments={"max": max, "min": min}, **kwargs
        )

    def pool_restart(
        self,
        modules: Iterable[str] | None = None,
        reload: bool = False,
        reloader: Any = None,
        destination: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | None:
        """Replace the pools' processes, importing ``modules`` (reloaded with ``reload``).

        Workers accept it only with ``worker_pool_restarts`` on; they reload modules with
        :func:`importlib.reload`. A custom ``reloader`` function cannot travel in a JSON
        message: passing one raises :class:`ValueError`.
        """
        if reloader is not None:
            raise ValueError("pool_restart: a reloader function cannot be sent to workers")
        return self.broadcast(
            "pool_restart",
            destination=destination,
            arguments={
                "modules": None if modules is None else list(modules),
                "reload": reload,
            },
            **kwargs,
        )

    def heartbeat(
        self, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Make the workers send a ``worker-heartbeat`` event now."""
        return self.broadcast("heartbeat", destination=destination, **kwargs)

    def shutdown(
        self, destination: str | Iterable[str] | None = None, **kwargs: Any
    ) -> list[dict[str, Any]] | None:
        """Ask the workers for a warm shutdown."""
        return self.broadcast("shutdown", destination=destination, **kwargs)

    def purge(self, connection: Any = None) -> int:
        """Delete the waiting messages of the known task queues; how many were deleted.

        The known queues are ``task_queues``, or the default queue when none are
        declared. ``connection`` is accepted for Celery's signature; the app's broker
        is used.
        """
        declared = {str(queue.name) for queue in self.app.conf.task_queues or ()}
        names = declared or {self.app.conf.task_default_queue}
        return sum(self.app.broker.purge(name) for name in sorted(names))

    discard_all = purge
