"""Gossip (unless ``--without-gossip``): follow the other workers through their events.

As Celery's gossip does, the worker listens to the other workers' ``worker-online``,
``worker-heartbeat`` and ``worker-offline`` events: it logs a worker that joins
(``joined the party``), leaves (``left``) or stops sending heartbeats (``missed
heartbeat from``), keeps the list of live neighbours, and moves its logical clock past
every clock it sees. Celery's leader elections
(``worker-elect``), which nothing in Celery itself uses, are not implemented.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from celeriac.events.receiver import EventReceiver
from celeriac.events.state import State
from celeriac.events.state import Worker as Peer
from celeriac.exceptions import CeleriacError

if TYPE_CHECKING:
    from celeriac.brokers.base import EventChannel
    from celeriac.worker.worker import Worker

__all__ = ["Gossip"]

logger = logging.getLogger(__name__)


class Gossip:
    """The other workers, as their events show them.

    Args:
        worker: This worker (its name, and the clock to move forward).
        channel: An event channel of its own to listen on.
        poll_interval: Seconds between reads of the channel.
        check_interval: Seconds between checks for workers whose heartbeats stopped.
    """

    def __init__(
        self,
        worker: Worker,
        channel: EventChannel,
        *,
        poll_interval: float = 1.0,
        check_interval: float = 5.0,
    ) -> None:
        self.worker = worker
        self.channel = channel
        self.poll_interval = poll_interval
        self.check_interval = check_interval
        # Only the workers' events: a busy cluster's task events would cost every worker.
        self.receiver = EventReceiver(worker.app, channel=channel, routing_key="worker.#")
        self.state = State(
            max_tasks_in_memory=0, on_node_join=self._joined, on_node_leave=self._left
        )
        self._reading: asyncio.Future[list[dict[str, Any]]] | None = None

    def neighbours(self) -> list[str]:
        """The other workers heard from recently enough, by name."""
        return sorted(w.hostname for w in self.state.alive_workers())

    def on_event(self, event: dict[str, Any]) -> None:
        """Take in one event (other workers' ``worker-*`` events matter)."""
        kind = str(event.get("type", ""))
        if not kind.startswith("worker-") or event.get("hostname") == self.worker.hostname:
            return
        clock = event.get("clock")
        if isinstance(clock, int):
            self.worker.adjust_clock(clock)
        self.state.event(event)

    def check(self) -> None:
        """Forget (and log) the workers whose heartbeats stopped without ``worker-offline``."""
        for peer in list(self.state.workers.values()):
            if not peer.alive:
                if not peer.offline:
                    logger.info("missed heartbeat from %s", peer.hostname)
                del self.state.workers[peer.hostname]

    async def run(self) -> None:
        """Listen until cancelled; the channel is closed then."""
        checked = time.monotonic()
        try:
            while True:
                self._reading = asyncio.ensure_future(asyncio.to_thread(self._read))
                try:  # shielded: a stop waits for the read (below), never abandons it
                    events = await asyncio.shield(self._reading)
                except CeleriacError as exc:
                    logger.warning("gossip: cannot read events: %s", exc)
                    events = []
                for event in events:
                    self.on_event(event)
                if time.monotonic() - checked >= self.check_interval:
                    checked = time.monotonic()
                    self.check()
                await asyncio.sleep(self.poll_interval)
        finally:
            await self._close()

    def _read(self) -> list[dict[str, Any]]:
        return list(self.receiver.events(timeout=0))

    async def _close(self) -> None:
        if self._reading is not None:  # a read in its thread still uses the channel
            await asyncio.wait({self._reading})
        self.channel.close()

    @staticmethod
    def _joined(peer: Peer) -> None:
        logger.info("%s joined the party", peer.hostname)

    @staticmethod
    def _left(peer: Peer) -> None:
        logger.info("%s left", peer.hostname)
