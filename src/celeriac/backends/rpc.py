"""The ``rpc://`` result backend: results travel back as messages over the AMQP broker.

Wire (as Celery's ``celery.backends.rpc``): a client that sends tasks sets the message
property ``reply_to`` to its own reply queue (a UUID). The worker publishes every state
of such a task (STARTED, RETRY, SUCCESS, FAILURE ...) to the default exchange with that
queue name as routing key, ``correlation_id`` = the task id, serialized with
``result_serializer``; the body is the task meta document (``status``, ``result``,
``traceback``, ``children``, ``task_id`` ...). Nothing is stored: a result exists only
for the client that sent the task, and only while it runs.

Client side: the reply queue is declared exclusive and auto-delete on the backend's own
connection the first time a task is sent (so no reply can arrive before it exists), and
consumed at once; every reply is kept in a local cache (the latest state per task id,
a ready state never replaced by a late non-ready one), so ``AsyncResult.get`` for one
id never loses the replies of others. The cache holds at most ``cache_size`` tasks.
If the connection is lost, the queue is declared again on reconnect; replies sent in
between are lost (the queue was exclusive to the old connection).

The broker URL and options come from the app (:meth:`use_broker`); the URL must be an
AMQP one.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, final

import aiormq

from celeriac import serialization, states
from celeriac._internal.exception_codec import exception_from_dict, is_exception_dict
from celeriac.backends.base import TASK_KEY_PREFIX, ResultBackend
from celeriac.brokers._amqp_client import Session, amqp_errors
from celeriac.brokers._amqp_loop import LoopThread
from celeriac.brokers._amqp_settings import connection_settings
from celeriac.brokers._amqp_topology import QueueSpec
from celeriac.exceptions import BackendError, ImproperlyConfigured, TimeoutError

__all__ = ["RPCBackend"]

logger = logging.getLogger(__name__)


@final
class RPCBackend(ResultBackend):
    """Results as reply messages (Celery's ``rpc://``).

    Args:
        url: ``rpc://`` (anything after the scheme is ignored, as in Celery).
        serializer: ``result_serializer``.
        accept: ``result_accept_content``.
        expires: Unused: replies live as long as the client's queue.
        extended: Whether result metas carry name, args, kwargs ...
        persistent: Publish replies as persistent messages (``result_persistent``).
        cache_size: How many tasks' latest replies the client keeps.
    """

    #: Results are messages, with no counter to join a chord on: chords are refused,
    #: as Celery's rpc backend refuses them.
    supports_native_join = False

    def __init__(
        self,
        url: str = "rpc://",
        *,
        serializer: str = "json",
        accept: Any = ("json",),
        expires: float | None = None,
        extended: bool = False,
        persistent: bool = False,
        cache_size: int = 10_000,
    ) -> None:
        super().__init__(
            url, serializer=serializer, accept=accept, expires=expires, extended=extended
        )
        self.persistent = persistent
        self.cache_size = cache_size
        self._broker_url: str | None = None
        self._broker_options: Mapping[str, Any] = {}
        self._thread = LoopThread("celeriac-rpc")
        self._session: Session | None = None
        self._reply_queue: str | None = None
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._cache: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    def use_broker(self, url: str, transport_options: Mapping[str, Any]) -> None:
        """Talk to the broker at ``url`` (the app's ``broker_url``)."""
        self._broker_url = url
        self._broker_options = dict(transport_options)

    # -- connection ------------------------------------------------------------------

    def _open_session(self) -> Session:
        with self._lock:
            if self._session is not None and self._thread.is_running():
                return self._session
            if self._broker_url is None:
                raise ImproperlyConfigured("rpc:// needs the app's broker URL (use_broker)")
            try:
                settings = connection_settings(self._broker_url, self._broker_options)
            except ImproperlyConfigured as exc:
                raise ImproperlyConfigured(
                    f"the rpc:// result backend needs an amqp:// broker, not {self._broker_url!r}"
                ) from exc
            self._thread.start()
            self._session = Session(settings)
            self._reply_queue = None  # after a fork the parent's queue is not ours
            return self._session

    def _run(self, coro: Any, what: str) -> Any:
        with amqp_errors(f"rpc:// {what} failed", transient=BackendError, refused=BackendError):
            return self._thread.run(coro)

    def close(self) -> None:
        """Close the connection (the reply queue goes with it)."""
        with self._lock:
            session, self._session, self._reply_queue = self._session, None, None
        if session is not None and self._thread.is_running():
            try:
                self._thread.run(session.close())
            finally:
                self._thread.stop()

    # -- the client's reply queue --------------------------------------------------------

    def client_reply_to(self) -> str:
        """This client's reply queue, declared and consumed before the first send."""
        with self._lock:
            session = self._open_session()
            if self._reply_queue is None:
                self._reply_queue = str(uuid.uuid4())
            queue = self._reply_queue
        self._run(self._consume(session, queue), "reply queue setup")
        return queue

    async def _consume(self, session: Session, queue: str) -> None:
        await session.connect()  # a lost connection empties the cache first
        if ("reply-consumer", queue) in session.declared:
            return
        spec = QueueSpec(queue, None, "", durable=False, exclusive=True, auto_delete=True)
        await session.declare_queue(spec)
        channel = await session.channel("replies")
        await channel.basic_consume(queue, self._on_reply, no_ack=True)
        session.declared.add(("reply-consumer", queue))

    async def _on_reply(self, message: aiormq.abc.DeliveredMessage) -> None:
        props = message.header.properties
        try:
            meta = serialization.loads(
                message.body,
                props.content_type or "application/json",
                props.content_encoding or "utf-8",
                self.accept,
            )
        except Exception as exc:
            logger.warning("Ignoring an undecodable rpc:// reply: %s", exc)
            return
        if not isinstance(meta, dict):
            return
        task_id = str(meta.get("task_id") or props.correlation_id or "")
        if task_id:  # the waiters' lock is theirs: a greenlet's in a patched process
            self._thread.to_callers(self._remember, task_id, meta)

    def _remember(self, task_id: str, meta: dict[str, Any]) -> None:
        with self._arrived:
            known = self._cache.get(task_id) or {}
            ready = states.READY_STATES
            if known.get("status") in ready and meta.get("status") not in ready:
                return
            self._cache[task_id] = meta
            self._cache.move_to_end(task_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            self._arrived.notify_all()

    # -- worker side -----------------------------------------------------------------

    def store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
    ) -> Any:
        """Send the state to the task's ``reply_to`` queue (nothing if it has none)."""
        reply_to = getattr(request, "reply_to", None)
        if not reply_to:
            return result
        correlation_id = getattr(request, "correlation_id", None) or task_id
        meta = self.build_meta(task_id, result, state, traceback, request)
        content_type, content_encoding, body = serialization.dumps(meta, self.serializer)
        session = self._open_session()
        properties = aiormq.spec.Basic.Properties(
            content_type=content_type,
            content_encoding=content_encoding,
            correlation_id=correlation_id,
            delivery_mode=2 if self.persistent else 1,
            headers={},
        )
        self._run(
            session.publish(body, exchange="", routing_key=reply_to, properties=properties),
            "reply",
        )
        return result

    # -- client side -----------------------------------------------------------------

    def get_task_meta(self, task_id: str) -> dict[str, Any]:
        """The latest reply received for ``task_id``; PENDING before any."""
        with self._lock:
            meta = self._cache.get(task_id)
        if meta is None:
            return {
                "status": states.PENDING,
                "result": None,
                "traceback": None,
                "children": [],
                "date_done": None,
                "task_id": task_id,
            }
        meta = dict(meta)
        if meta.get("status") in states.EXCEPTION_STATES and is_exception_dict(meta.get("result")):
            meta["result"] = exception_from_dict(meta["result"])
        return meta

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float | None = None
    ) -> dict[str, Any]:
        """Wait for a ready reply for ``task_id``.

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        if self._reply_queue is None:
            self.client_reply_to()  # not this client's task: nothing will come, but wait
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._arrived:
                meta = self._cache.get(task_id)
                if meta is not None and meta.get("status") in states.READY_STATES:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("The operation timed out.")
                self._arrived.wait(1.0 if remaining is None else min(remaining, 1.0))
            self.client_reply_to()  # after a lost connection: consume again
        return self.get_task_meta(task_id)

    def forget(self, task_id: str) -> None:
        """Drop the cached reply of ``task_id``."""
        with self._lock:
            self._cache.pop(task_id, None)

    # -- storage primitives: only the local cache ------------------------------------

    def get(self, key: str) -> bytes | None:
        """The cached reply for a task key, encoded; nothing else is kept."""
        if not key.startswith(TASK_KEY_PREFIX):
            return None
        with self._lock:
            meta = self._cache.get(key[len(TASK_KEY_PREFIX) :])
        return None if meta is None else self.encode(meta)

    def set(self, key: str, value: bytes, *, ttl: float | None, is_ready: bool) -> None:
        """rpc:// stores nothing (groups and chords need a result store).

        Raises:
            BackendError: always.
        """
        raise BackendError("the rpc:// result backend stores nothing; use a result store")

    def delete(self, key: str) -> None:
        """Drop a cached reply."""
        if key.startswith(TASK_KEY_PREFIX):
            self.forget(key[len(TASK_KEY_PREFIX) :])
