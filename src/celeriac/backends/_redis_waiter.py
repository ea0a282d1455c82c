"""Waiting for results on Redis: each thread's pubsub connection, subscribed early if it can.

Every result is stored and ``PUBLISH``-ed on a channel named like its key, in one script
(:mod:`celeriac.backends._redis_scripts`), so a waiter subscribes, reads the key once (a
result stored before the subscription took effect is seen there), then takes the value
from the ``PUBLISH`` itself, re-reading the key only if none came for a while.

A client that sends a task and then waits for it (``add.delay(2, 2).get()``) has its
``SUBSCRIBE`` sent just before the task is published (:meth:`Waiters.subscribe_early`),
as Celery's client does: its confirmation arrives while the task is sent, and the wait
starts with it already in. A thread that sends without waiting stops doing so after one
unwaited task, until it waits for a result again, so it never piles up subscriptions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

__all__ = ["Waiters", "next_value"]

logger = logging.getLogger(__name__)

#: Longest wait for a subscription's confirmation (the key is read after it anyway).
CONFIRM_TIMEOUT = 1.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def next_value(pubsub: Any, channel: str, timeout: float) -> bytes | None:
    """The next value published on ``channel`` within ``timeout`` seconds, else ``None``.

    Confirmations, and messages of channels subscribed before, are skipped.
    """
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        reply = pubsub.get_message(timeout=remaining)
        if reply and reply["type"] == "message" and _text(reply["channel"]) == channel:
            data = reply["data"]
            return data if isinstance(data, bytes) else str(data).encode()
    return None


class _Thread:
    """One thread's pubsub connection and what it subscribed to ahead of a wait."""

    __slots__ = ("early", "pid", "pubsub", "waits")

    def __init__(self, pubsub: Any) -> None:
        self.pid = os.getpid()
        self.pubsub = pubsub
        #: The channel subscribed before its task was sent, confirmation not read yet.
        self.early: str | None = None
        #: Whether this thread waited for the last result it subscribed to early.
        self.waits = True


class Waiters:
    """The pubsub connections of one backend, one per thread (and per process).

    Args:
        client: The backend's client (its pool makes the pubsub connections).
    """

    def __init__(self, client: Callable[[], redis.Redis]) -> None:
        self._client = client
        self._local = threading.local()

    def _thread(self) -> _Thread:
        """This thread's connection (a new one in a forked child or after an error).

        The connection is kept between waits: redis-py disconnects a PubSub when it
        closes, so one per wait cost a connect and a ``SELECT`` each time.
        """
        held: _Thread | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            held = _Thread(self._client().pubsub())  # type: ignore[no-untyped-call]
            self._local.held = held
        return held

    def drop(self) -> None:
        """Close this thread's connection (the next wait makes a new one)."""
        held: _Thread | None = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held.pid == os.getpid():
            with contextlib.suppress(Exception):
                held.pubsub.close()

    def subscribe_early(self, channel: str) -> None:
        """Subscribe to ``channel`` now, before its task is sent; the wait confirms it.

        A failure here only means the wait subscribes itself: sending goes on.
        """
        held = self._thread()
        if not held.waits:
            return
        try:
            if held.early is not None:
                # The task sent before was not waited for: stop subscribing ahead of
                # sending until this thread waits for a result again.
                held.pubsub.unsubscribe(held.early)
                held.early, held.waits = None, False
                return
            held.pubsub.subscribe(channel)
            held.early = channel
        except redis.RedisError as exc:
            logger.debug("Early subscription to %s failed: %s", channel, exc)
            self.drop()

    @contextlib.contextmanager
    def subscription(self, channel: str) -> Iterator[Any]:
        """This thread's pubsub connection, subscribed to ``channel`` (confirmed).

        Waiting for the confirmation before the caller reads the key closes the gap in
        which a result stored meanwhile would be neither read nor heard.
        """
        held = self._thread()
        held.waits = True
        pubsub = held.pubsub
        try:
            early, held.early = held.early, None
            if early is not None and early != channel:
                pubsub.unsubscribe(early)  # waited for another result first: not needed
            if early != channel:
                pubsub.subscribe(channel)
            deadline = time.monotonic() + CONFIRM_TIMEOUT
            while (remaining := deadline - time.monotonic()) > 0:
                reply = pubsub.get_message(timeout=remaining)
                if reply and reply["type"] == "subscribe" and _text(reply["channel"]) == channel:
                    break
            yield pubsub
            pubsub.unsubscribe(channel)  # its confirmation is read (and skipped) next time
        except BaseException:
            self.drop()
            raise
