"""Gossip: the other workers' events, as one worker follows them."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from celeriac.worker.gossip import Gossip


class Me:
    hostname = "me@box"
    app: Any = None

    def __init__(self) -> None:
        self.clock = 0

    def adjust_clock(self, other: int) -> int:
        self.clock = max(self.clock, other) + 1
        return self.clock


class Silent:
    def receive(self, *, timeout: float) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def event(kind: str, hostname: str, *, ago: float = 0.0, clock: int = 1) -> dict[str, Any]:
    return {
        "type": kind,
        "hostname": hostname,
        "clock": clock,
        "freq": 2.0,
        "local_received": time.time() - ago,
    }


def test_gossip_follows_joins_leaves_and_missed_heartbeats(
    caplog: pytest.LogCaptureFixture,
) -> None:
    me = Me()
    gossip = Gossip(me, Silent())  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, "celeriac.worker.gossip")
    gossip.on_event(event("worker-online", "w2@box", clock=41))
    gossip.on_event(event("worker-heartbeat", "w3@box"))
    gossip.on_event(event("worker-heartbeat", "me@box", clock=999))  # our own: ignored
    gossip.on_event({"type": "task-received", "uuid": "x", "hostname": "w2@box"})
    assert gossip.neighbours() == ["w2@box", "w3@box"]
    assert me.clock == 43  # moved past w2's 41, then w3's 1
    gossip.on_event(event("worker-offline", "w2@box"))
    gossip.state.workers["w3@box"].heartbeats = [time.time() - 10]  # then nothing more
    gossip.check()
    assert gossip.neighbours() == [] and not gossip.state.workers
    assert [record.getMessage() for record in caplog.records] == [
        "w2@box joined the party",
        "w3@box joined the party",
        "w2@box left",
        "missed heartbeat from w3@box",
    ]
