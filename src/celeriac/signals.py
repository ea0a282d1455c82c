"""Signals with Celery's names and arguments.

``@task_success.connect`` (or ``.connect(sender=...)``) registers a receiver;
``send(sender, **kwargs)`` calls every matching receiver. A receiver that raises is
logged and the others still run: a hook can never break the worker or the caller.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, overload

__all__ = [
    "Signal",
    "after_setup_logger",
    "after_setup_task_logger",
    "after_task_publish",
    "beat_embedded_init",
    "beat_init",
    "before_task_publish",
    "celeryd_after_setup",
    "celeryd_init",
    "heartbeat_sent",
    "import_modules",
    "setup_logging",
    "task_failure",
    "task_internal_error",
    "task_postrun",
    "task_prerun",
    "task_received",
    "task_rejected",
    "task_retry",
    "task_revoked",
    "task_success",
    "task_unknown",
    "worker_init",
    "worker_process_init",
    "worker_process_shutdown",
    "worker_ready",
    "worker_shutdown",
    "worker_shutting_down",
]

logger = logging.getLogger(__name__)
Receiver = Callable[..., Any]


class Signal:
    """A named hook receivers connect to.

    Args:
        name: The signal's name (for logs and ``repr``).
        providing_args: The keyword arguments ``send`` passes (documentation only).
    """

    def __init__(self, name: str = "", providing_args: set[str] | None = None) -> None:
        self.name = name
        self.providing_args = set(providing_args or ())
        self._receivers: list[tuple[Any, Any, Callable[[], Receiver | None]]] = []
        self._lock = threading.Lock()
        #: Whether anything is connected (a receiver since garbage-collected counts until
        #: the next ``send``). A plain attribute: the worker reads it for each task
        #: before it builds a signal's arguments.
        self.has_receivers = False

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"

    @overload
    def connect(
        self, receiver: Receiver, *, sender: Any = None, weak: bool = True, dispatch_uid: Any = None
    ) -> Receiver: ...
    @overload
    def connect(
        self,
        receiver: None = None,
        *,
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Any = None,
    ) -> Callable[[Receiver], Receiver]: ...
    def connect(
        self,
        receiver: Receiver | None = None,
        *,
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Any = None,
        **_: Any,
    ) -> Any:
        """Register ``receiver`` (also usable as a decorator, with or without arguments).

        Args:
            receiver: Called as ``receiver(signal=..., sender=..., **kwargs)``.
            sender: Only calls from this sender (an object or, for task signals, a task
                name) reach the receiver.
            weak: Hold the receiver weakly, so it goes away with its owner.
            dispatch_uid: Connect at most once per uid.
        """

        def register(fn: Receiver) -> Receiver:
            key = dispatch_uid if dispatch_uid is not None else (id(fn), _sender_key(sender))
            ref: Callable[[], Receiver | None]
            if weak:
                ref = weakref.WeakMethod(fn) if hasattr(fn, "__self__") else weakref.ref(fn)
            else:
                ref = _strong(fn)
            with self._lock:
                if all(existing != key for existing, _, _ in self._receivers):
                    self._receivers.append((key, sender, ref))
                    self.has_receivers = True
            return fn

        return register(receiver) if receiver is not None else register

    def disconnect(
        self, receiver: Receiver | None = None, sender: Any = None, dispatch_uid: Any = None
    ) -> bool:
        """Remove a receiver; whether one was removed."""
        key = dispatch_uid if dispatch_uid is not None else (id(receiver), _sender_key(sender))
        with self._lock:
            before = len(self._receivers)
            self._receivers = [r for r in self._receivers if r[0] != key]
            self.has_receivers = bool(self._receivers)
            return len(self._receivers) != before

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender``; ``[(receiver, response), ...]``."""
        with self._lock:
            receivers = list(self._receivers)
        responses: list[tuple[Receiver, Any]] = []
        dead = False
        for _, wanted, ref in receivers:
            fn = ref()
            if fn is None:
                dead = True
                continue
            if wanted is not None and not _matches(wanted, sender):
                continue
            try:
                responses.append((fn, fn(signal=self, sender=sender, **named)))
            except Exception as exc:
                logger.exception("Signal handler %r raised: %r", fn, exc)
                responses.append((fn, exc))
        if dead:
            with self._lock:
                self._receivers = [r for r in self._receivers if r[2]() is not None]
                self.has_receivers = bool(self._receivers)
        return responses

    send_robust = send

    @property
    def receivers(self) -> list[Receiver]:
        """The live receivers."""
        return [fn for _, _, ref in self._receivers if (fn := ref()) is not None]


def _strong(fn: Receiver) -> Callable[[], Receiver]:
    return lambda: fn


def _sender_key(sender: Any) -> Any:
    return None if sender is None else (sender if isinstance(sender, str) else id(sender))


def _matches(wanted: Any, sender: Any) -> bool:
    if wanted is sender or wanted == sender:
        return True
    name = getattr(sender, "name", None)
    return isinstance(wanted, str) and name == wanted


# Task publishing (the calling process).
before_task_publish = Signal(
    "before_task_publish",
    {"body", "exchange", "routing_key", "headers", "properties", "declare", "retry_policy"},
)
after_task_publish = Signal("after_task_publish", {"body", "exchange", "routing_key"})
# Task execution (the worker).
task_received = Signal("task_received", {"request"})
task_prerun = Signal("task_prerun", {"task_id", "task", "args", "kwargs"})
task_postrun = Signal("task_postrun", {"task_id", "task", "args", "kwargs", "retval", "state"})
task_success = Signal("task_success", {"result", "runtime"})
task_retry = Signal("task_retry", {"request", "reason", "einfo"})
task_failure = Signal(
    "task_failure", {"task_id", "exception", "args", "kwargs", "traceback", "einfo"}
)
task_internal_error = Signal(
    "task_internal_error",
    {"task_id", "args", "kwargs", "request", "exception", "traceback", "einfo"},
)
task_revoked = Signal("task_revoked", {"request", "terminated", "signum", "expired"})
task_rejected = Signal("task_rejected", {"message", "exc"})
task_unknown = Signal("task_unknown", {"message", "exc", "name", "id"})
# Worker lifecycle.
celeryd_init = Signal("celeryd_init", {"instance", "conf", "options"})
celeryd_after_setup = Signal("celeryd_after_setup", {"instance", "conf"})
import_modules = Signal("import_modules")
worker_init = Signal("worker_init")
worker_ready = Signal("worker_ready")
worker_shutting_down = Signal("worker_shutting_down", {"sig", "how", "exitcode"})
worker_shutdown = Signal("worker_shutdown")
worker_process_init = Signal("worker_process_init")
worker_process_shutdown = Signal("worker_process_shutdown", {"pid", "exitcode"})
heartbeat_sent = Signal("heartbeat_sent")
# Logging.
setup_logging = Signal("setup_logging", {"loglevel", "logfile", "format", "colorize"})
after_setup_logger = Signal(
    "after_setup_logger", {"logger", "loglevel", "logfile", "format", "colorize"}
)
after_setup_task_logger = Signal(
    "after_setup_task_logger", {"logger", "loglevel", "logfile", "format", "colorize"}
)
# Beat.
beat_init = Signal("beat_init")
beat_embedded_init = Signal("beat_embedded_init")
