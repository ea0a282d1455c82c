"""``app.control.inspect()``: read-only questions to the workers, answered per node."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app.control import Control

__all__ = ["Inspect", "ReplyCallback", "flatten_reply"]

ReplyCallback = Callable[[dict[str, Any]], None]


def flatten_reply(replies: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge ``[{node: reply}, ...]`` into ``{node: reply}``."""
    merged: dict[str, Any] = {}
    for reply in replies:
        merged.update(reply)
    return merged


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
