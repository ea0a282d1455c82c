"""The conformance suite for remote-control mailboxes (``Broker.mailbox()``)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac.brokers.base import Broker, Mailbox
from celeriac.testing._broker_suite import BrokerFactory

__all__ = ["MailboxConformance"]


def _command(method: str, ticket: str | None, reply_key: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "method": method,
        "arguments": {},
        "destination": None,
        "pattern": None,
        "matcher": None,
    }
    if ticket is not None and reply_key is not None:
        body["ticket"] = ticket
        body["reply_to"] = {"exchange": "reply.celery.pidbox", "routing_key": reply_key}
    return body


def _fetch(mailbox: Mailbox, node: str, timeout: float = 0.0) -> list[dict[str, Any]]:
    return asyncio.run(mailbox.afetch_commands(node, timeout=timeout))


class MailboxConformance:
    """Tests for the mailbox of the broker made by ``broker_factory``."""

    @pytest.fixture
    def mailbox(self, broker_factory: BrokerFactory) -> Iterator[Mailbox]:
        broker: Broker = broker_factory()
        broker.open()
        box = broker.mailbox()
        yield box
        box.close()
        broker.close()

    @pytest.fixture
    def node(self) -> str:
        return f"w-{uuid.uuid4().hex[:8]}@test"

    def test_broadcast_reaches_a_listening_worker(self, mailbox: Mailbox, node: str) -> None:
        assert _fetch(mailbox, node) == []  # start listening
        mailbox.broadcast(_command("ping", None, None))
        [received] = _fetch(mailbox, node, timeout=5)
        assert received["method"] == "ping"
        assert _fetch(mailbox, node) == []  # delivered once

    def test_commands_sent_before_listening_are_not_delivered(
        self, mailbox: Mailbox, node: str
    ) -> None:
        mailbox.broadcast(_command("old", None, None))
        assert _fetch(mailbox, node) == []
        mailbox.broadcast(_command("new", None, None))
        assert [c["method"] for c in _fetch(mailbox, node, timeout=5)] == ["new"]

    def test_every_worker_gets_each_broadcast(self, mailbox: Mailbox) -> None:
        nodes = [f"w{i}-{uuid.uuid4().hex[:6]}@test" for i in range(2)]
        for node in nodes:
            _fetch(mailbox, node)
        mailbox.broadcast(_command("ping", None, None))
        for node in nodes:
            assert [c["method"] for c in _fetch(mailbox, node, timeout=5)] == ["ping"]

    def test_expired_commands_are_skipped(self, mailbox: Mailbox, node: str) -> None:
        _fetch(mailbox, node)
        mailbox.broadcast(_command("stale", None, None), expires=time.time() - 1)
        mailbox.broadcast(_command("fresh", None, None), expires=time.time() + 60)
        assert [c["method"] for c in _fetch(mailbox, node, timeout=5)] == ["fresh"]

    def test_replies_round_trip_and_limit(self, mailbox: Mailbox) -> None:
        reply_key, ticket = uuid.uuid4().hex, uuid.uuid4().hex
        reply_to = mailbox.prepare_replies(reply_key)
        nodes = [f"r{i}@test" for i in range(3)]

        async def answer() -> None:
            for node in nodes:
                await mailbox.areply(reply_to, ticket, node, {"ok": "pong"})
            await mailbox.areply(reply_to, "another-ticket", "x@test", {"ok": "no"})

        asyncio.run(answer())
        replies = mailbox.collect(reply_key, ticket, timeout=5, limit=3)
        assert sorted(next(iter(r)) for r in replies) == nodes
        assert all(next(iter(r.values())) == {"ok": "pong"} for r in replies)
        mailbox.release_replies(reply_key)

    def test_collect_returns_at_timeout_with_what_came(self, mailbox: Mailbox) -> None:
        reply_key, ticket = uuid.uuid4().hex, uuid.uuid4().hex
        reply_to = mailbox.prepare_replies(reply_key)
        asyncio.run(mailbox.areply(reply_to, ticket, "only@test", {"ok": "pong"}))
        replies = mailbox.collect(reply_key, ticket, timeout=0.2, limit=5)
        assert replies == [{"only@test": {"ok": "pong"}}]

    def test_a_reply_wakes_a_waiting_collect(self, mailbox: Mailbox) -> None:
        reply_key, ticket = uuid.uuid4().hex, uuid.uuid4().hex
        reply_to = mailbox.prepare_replies(reply_key)
        replier = threading.Thread(
            target=lambda: asyncio.run(mailbox.areply(reply_to, ticket, "late@test", 1))
        )
        replier.start()
        replies = mailbox.collect(reply_key, ticket, timeout=10, limit=1)
        replier.join()
        assert replies == [{"late@test": 1}]

    def test_revokes_are_durable_and_expire(self, broker_factory: BrokerFactory) -> None:
        # Fresh ids, checked by inclusion: on a shared server (one RabbitMQ vhost) the
        # store also holds what other runs revoked, for as long as their revokes last.
        kept, gone = [str(uuid.uuid4()) for _ in range(2)], str(uuid.uuid4())
        first = broker_factory()
        first.open()
        first.mailbox().store_revoked(kept)
        first.mailbox().store_revoked([gone], ttl=-1)
        later = broker_factory()  # a worker starting afterwards
        later.open()
        revoked = later.mailbox().load_revoked()
        assert set(kept) <= set(revoked) and gone not in revoked
        assert all(expires > time.time() for expires in revoked.values())
        first.close()
        later.close()
