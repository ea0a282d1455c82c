"""The terminal monitor's background work: receiving events, and remote-control calls.

Both run off the screen's thread so a slow broker never freezes the keyboard. Their
outcome reaches the screen as plain attributes (``error``, ``message``), which the
screen reads on its next redraw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from celeriac.events.receiver import EventReceiver
from celeriac.events.state import State

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["ControlRunner", "EventFeed", "describe_revoke"]

logger = logging.getLogger(__name__)

#: Seconds the receiver waits for events before looking at its stop flag again.
RECEIVE_TIMEOUT = 0.5
#: Seconds between attempts after the broker failed.
RETRY_DELAY = 1.0
#: Seconds a revoke waits for the workers' replies.
REPLY_TIMEOUT = 1.0


class EventFeed:
    """Applies the cluster's events to ``state`` from a background thread.

    Args:
        app: The app whose broker carries the events.
        state: The model the screen draws; changed only while holding ``lock``.
        lock: Shared with the screen, which reads ``state`` under it.
        retry_delay: Seconds to wait after the broker failed before trying again.
    """

    def __init__(
        self, app: Celery, state: State, lock: threading.Lock, *, retry_delay: float = RETRY_DELAY
    ) -> None:
        self.app = app
        self.state = state
        self.lock = lock
        self.retry_delay = retry_delay
        #: Whether events are being received (set once the first read returned).
        self.listening = False
        #: The last broker error, shown on the screen until a read succeeds.
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start receiving."""
        self._thread = threading.Thread(target=self._run, name="celeriac-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving and wait for the thread (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        receiver: EventReceiver | None = None
        while not self._stop.is_set():
            try:
                if receiver is None:
                    receiver = EventReceiver(self.app)
                # The first read is short: it marks where listening starts.
                timeout = RECEIVE_TIMEOUT if self.listening else 0.0
                for event in receiver.events(timeout=timeout):
                    with self.lock:
                        self.state.event(event)
                self.listening = True
                self.error = None
            except Exception as exc:  # the receiving loop's boundary: show it and retry
                logger.debug("Receiving events failed", exc_info=True)
                self.error = f"{type(exc).__name__}: {exc}"
                _close(receiver)
                receiver = None
                self._stop.wait(self.retry_delay)
        _close(receiver)


def _close(receiver: EventReceiver | None) -> None:
    if receiver is not None:
        try:
            receiver.close()
        except Exception:  # closing after a failure: nothing more to do with it
            logger.debug("Closing the event receiver failed", exc_info=True)


def describe_revoke(
    uuid: str, terminate: bool, replies: list[dict[str, Any]] | None, waited: float
) -> str:
    """A one-line account of a revoke and what the workers answered in ``waited`` seconds."""
    verb = "Terminated" if terminate else "Revoked"
    if not replies:
        return f"{verb} {uuid} (stored; no worker replied within {waited:g}s)"
    answers = []
    for reply in replies:
        for node, body in reply.items():
            if isinstance(body, dict) and "error" in body:
                answers.append(f"{node}: error: {body['error']}")
            else:
                answers.append(f"{node}: ok")
    return f"{verb} {uuid} ({'; '.join(answers)})"


class ControlRunner:
    """Runs remote-control calls one at a time and reports each as a status line.

    Args:
        app: The app whose ``control`` sends the commands.
        report: Called with ``(text, is_error)`` when a call ends (from its thread).
        reply_timeout: Seconds to wait for the workers' replies.
    """

    def __init__(
        self,
        app: Celery,
        report: Callable[[str, bool], None],
        *,
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self.app = app
        self.report = report
        self.reply_timeout = reply_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="celeriac-control")

    def revoke(self, uuid: str, *, terminate: bool) -> None:
        """Revoke ``uuid`` (and stop it if running, with ``terminate``) in the background."""
        future = self._executor.submit(
            self.app.control.revoke,
            uuid,
            terminate=terminate,
            reply=True,
            timeout=self.reply_timeout,
        )

        def done(future: Future[list[dict[str, Any]] | None]) -> None:
            try:
                replies = future.result()
            except Exception as exc:  # any failure of the call becomes the status line
                logger.debug("Revoking %s failed", uuid, exc_info=True)
                self.report(f"Could not revoke {uuid}: {exc}", True)
                return
            self.report(describe_revoke(uuid, terminate, replies, self.reply_timeout), False)

        future.add_done_callback(done)

    def close(self) -> None:
        """Wait for the call in progress, then release the mailbox."""
        self._executor.shutdown(wait=True)
        self.app.control.close()
