"""Waiting for results on Redis: each thread's pubsub connection, subscribed early if it can.

Every result is stored and ``PUBLISH``-ed on a channel named like its key, in one script
(:mod:`celeriac.backends._redis_scripts`), so a waiter subscribes, reads the key once (a
result stored before the subscription took effect is seen there), then takes the value
from the ``PUBLISH`` itself, re-reading the key only if none came for a while.

A client that sends a task and then waits for it (``add.delay(2, 2).get()``) sends its
``SUBSCRIBE`` before it builds the message (:meth:`Waiters.subscribe_early`) and reads
the confirmation, by then in, just before the message goes (:meth:`Waiters.confirm_early`).
For a task id made by this send, nothing can be stored before the worker has the message,
so that wait needs no first read of the key: the ``PUBLISH`` is the first it hears of the
result, whenever it comes. Only a thread that has waited for a result subscribes early
(one that only sends never opens a pubsub connection), and it stops after one unwaited
task, until it waits for a result again, so subscriptions never pile up.
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

    __slots__ = ("confirmed", "early", "fresh", "pid", "pubsub", "waits")

    def __init__(self, pubsub: Any) -> None:
        self.pid = os.getpid()
        self.pubsub = pubsub
        #: The channel subscribed before its task was sent and not waited for yet.
        self.early: str | None = None
        #: Whether the early channel's task id was made by that send (no result before it).
        self.fresh = False
        #: Whether its confirmation was read before the task was sent.
        self.confirmed = False
        #: Whether this thread waits for results: it did, and not for the last one
        #: subscribed to early (the first wait subscribes after sending, as any other).
        self.waits = False


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

    def subscribe_early(self, channel: str, *, fresh: bool) -> None:
        """Subscribe to ``channel`` before its task is built; ``fresh``: a new task id.

        A failure here only means the wait subscribes itself: sending goes on.
        """
        held: _Thread | None = getattr(self._local, "held", None)
        if held is None or not held.waits or held.pid != os.getpid():
            return  # this thread has not waited for a result (since its last unwaited one)
        try:
            if held.early is not None:
                # The task sent before was not waited for: stop subscribing ahead of
                # sending until this thread waits for a result again.
                held.pubsub.unsubscribe(held.early)
                held.early, held.waits = None, False
                return
            held.pubsub.subscribe(channel)
            held.early, held.fresh, held.confirmed = channel, fresh, False
        except redis.RedisError as exc:
            self._give_up_early(channel, exc)

    def confirm_early(self, channel: str) -> None:
        """Read ``channel``'s confirmation (if subscribed early) before its task is sent."""
        held: _Thread | None = getattr(self._local, "held", None)
        if held is None or held.early != channel or held.pid != os.getpid():
            return
        try:
            held.confirmed = _read_confirmation(held.pubsub, channel)
        except redis.RedisError as exc:
            self._give_up_early(channel, exc)

    def _give_up_early(self, channel: str, exc: Exception) -> None:
        # Sending does not depend on the result backend: with it unreachable, later
        # sends do not try again until this thread waits for a result (the connection
        # made then starts without early subscriptions).
        logger.debug("Early subscription to %s failed: %s", channel, exc)
        self.drop()

    @contextlib.contextmanager
    def subscription(self, channel: str) -> Iterator[tuple[Any, bool]]:
        """This thread's pubsub connection, subscribed to ``channel`` (confirmed).

        Yields it with whether the key must be read before waiting for a ``PUBLISH``.
        Waiting for the confirmation before the caller reads the key closes the gap in
        which a result stored meanwhile would be neither read nor heard; a fresh task id
        whose subscription was confirmed before the task went out has no such gap.
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
            if early != channel or not held.confirmed:
                _read_confirmation(pubsub, channel)
            yield pubsub, not (early == channel and held.confirmed and held.fresh)
            pubsub.unsubscribe(channel)  # its confirmation is read (and skipped) next time
        except BaseException:
            self.drop()
            raise


def _read_confirmation(pubsub: Any, channel: str) -> bool:
    """Read until ``channel``'s subscription is confirmed; False if it took too long."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while (remaining := deadline - time.monotonic()) > 0:
        reply = pubsub.get_message(timeout=remaining)
        if reply and reply["type"] == "subscribe" and _text(reply["channel"]) == channel:
            return True
    return False
