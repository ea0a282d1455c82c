"""How the dashboard is run: where it listens, who may see it, how often it asks."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DashboardOptions"]


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """The dashboard's settings (``celeriac dashboard`` options).

    Attributes:
        address: Interface to listen on.
        port: TCP port (0 picks a free one).
        basic_auth: Accepted ``user:password`` pairs; empty for none.
        token: Accepted bearer token (also ``?token=`` once, then a cookie); ``None`` for none.
        max_tasks: Tasks kept in memory.
        inspect_interval: Seconds between two rounds of remote-control questions.
        inspect_timeout: Seconds to wait for the workers' replies to each question.
        queue_interval: Seconds between two readings of the queue lengths.
        control_timeout: Seconds an action (revoke, resize, rate limit) waits for replies.
    """

    address: str = "localhost"
    port: int = 5555
    basic_auth: tuple[str, ...] = ()
    token: str | None = None
    max_tasks: int = 10000
    inspect_interval: float = 10.0
    inspect_timeout: float = 1.0
    queue_interval: float = 2.0
    control_timeout: float = 1.0

    @property
    def needs_auth(self) -> bool:
        """Whether requests must carry credentials."""
        return bool(self.basic_auth or self.token)
