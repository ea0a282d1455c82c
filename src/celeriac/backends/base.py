"""The result-backend contract, and the task-meta logic every backend shares.

A backend stores one *meta* document per task id under ``celery-task-meta-<id>``, in the
exact shape Celery writes (see the wire-protocol spec, section 4.2). Engines implement
four storage primitives on encoded bytes (:meth:`ResultBackend.get`, ``set``,
``delete`` and, optionally, ``wait_for_change``); this class turns task outcomes into
meta documents and back.

The one rule every engine enforces inside ``set``: a value written with
``is_ready=False`` never replaces a stored value that was written with
``is_ready=True`` (a late STARTED cannot hide a SUCCESS).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from celeriac import serialization, states
from celeriac._internal.exception_codec import (
    exception_from_dict,
    exception_to_dict,
    is_exception_dict,
)
from celeriac.exceptions import BackendError, TimeoutError

__all__ = ["GROUP_KEY_PREFIX", "TASK_KEY_PREFIX", "ResultBackend"]

TASK_KEY_PREFIX = "celery-task-meta-"
GROUP_KEY_PREFIX = "celery-taskset-meta-"
CHORD_COUNTER_PREFIX = "chord-unlock-"
_B = TypeVar("_B", bound="ResultBackend")
_EXTENDED_FIELDS = ("name", "args", "kwargs", "worker", "retries", "queue")


class ResultBackend(ABC):
    """Base class of every result backend.

    Args:
        url: The URL the backend was built from (shown masked in the banner).
        serializer: The result serializer name (``result_serializer``).
        accept: Content types accepted when reading (``result_accept_content``).
        expires: Seconds a stored result lives (``result_expires``); ``None`` keeps it.
        extended: Whether to store name, args, kwargs, worker, retries and queue.
    """

    #: Seconds between two reads when waiting on an engine that cannot notify.
    poll_interval: float = 0.5
    #: Whether this backend can join chords (count finished header tasks).
    supports_native_join: bool = True

    def __init__(
        self,
        url: str = "",
        *,
        serializer: str = "json",
        accept: Iterable[str] = ("json",),
        expires: float | None = 86400.0,
        extended: bool = False,
    ) -> None:
        self.url = url
        self.serializer = serializer
        self.accept = serialization.resolve_accept(accept)
        self.expires = expires or None
        self.extended = extended

    @classmethod
    def from_url(cls: type[_B], url: str, **options: Any) -> _B:
        """Build the backend for ``url``; ``options`` are this class's keyword options."""
        return cls(url, **options)

    def open(self) -> None:
        """Connect (or create storage). Safe to call twice."""

    def use_broker(self, url: str, transport_options: Mapping[str, Any]) -> None:
        """Learn the app's broker URL and options (called before :meth:`open`).

        Backends that talk through the broker (``rpc://``) connect there; the default
        ignores it.
        """

    def client_reply_to(self) -> str | None:
        """The ``reply_to`` queue for task messages this client sends, if any.

        ``rpc://`` returns its reply queue (declared before the first send); backends
        that store results return ``None`` and messages carry ``reply_to=""``.
        """
        return None

    def close(self) -> None:
        """Release connections. Safe to call twice."""

    def on_task_call(self, task_id: str, *, fresh: bool) -> None:
        """A task whose result this process may wait for is about to be built and sent.

        ``fresh``: its id was made for this send. Backends that deliver results by
        notification start listening here, so a :meth:`wait_for` that follows has less
        to do; the default does nothing.
        """

    def on_task_sending(self, task_id: str) -> None:
        """That task's message is built and goes out next; the default does nothing."""

    # -- storage primitives ----------------------------------------------------

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The stored value of ``key``, ``None`` if missing or expired."""

    @abstractmethod
    def set(self, key: str, value: bytes, *, ttl: float | None, is_ready: bool) -> None:
        """Store ``value``; a non-ready value never replaces a ready one."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    def wait_for_change(self, key: str, timeout: float) -> None:
        """Block until ``key`` may have changed, or ``timeout`` seconds pass.

        The default sleeps; engines that can be notified return sooner.
        """
        time.sleep(min(timeout, self.poll_interval))

    # -- encoding ----------------------------------------------------------------

    def encode(self, value: Any) -> bytes:
        """Serialize a meta document with the result serializer."""
        return serialization.dumps(value, self.serializer)[2]

    def decode(self, data: bytes) -> Any:
        """Deserialize a stored meta document (the serializer is sniffed from JSON)."""
        content_type = serialization.serializer_for(self.serializer).content_type
        try:
            return serialization.loads(data, content_type, "utf-8", self.accept)
        except Exception as exc:
            raise BackendError(f"cannot decode stored result: {exc}") from exc

    @staticmethod
    def task_key(task_id: str) -> str:
        """The key a task's meta is stored under."""
        return TASK_KEY_PREFIX + task_id

    # -- task meta ---------------------------------------------------------------

    def prepare_result(self, result: Any, state: str) -> Any:
        """Turn exceptions into their stored dict form."""
        if state in states.EXCEPTION_STATES and isinstance(result, BaseException):
            return exception_to_dict(result)
        return result

    def build_meta(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
    ) -> dict[str, Any]:
        """The meta document for one task state, key order as Celery writes it."""
        is_ready = state in states.READY_STATES
        meta: dict[str, Any] = {
            "status": state,
            "result": self.prepare_result(result, state),
            "traceback": traceback,
            "children": list(getattr(request, "children", None) or []),
            "date_done": dt.datetime.now(dt.timezone.utc).isoformat() if is_ready else None,
        }
        group_id = getattr(request, "group", None)
        parent_id = getattr(request, "parent_id", None)
        if group_id:
            meta["group_id"] = group_id
        if parent_id:
            meta["parent_id"] = parent_id
        if self.extended and request is not None:
            meta["name"] = getattr(request, "task", None)
            meta["args"] = getattr(request, "args", None)
            meta["kwargs"] = getattr(request, "kwargs", None)
            meta["worker"] = getattr(request, "hostname", None)
            meta["retries"] = getattr(request, "retries", 0)
            delivery_info = getattr(request, "delivery_info", None) or {}
            meta["queue"] = delivery_info.get("routing_key")
        meta["task_id"] = task_id
        return meta

    def store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
    ) -> Any:
        """Store a task's state and result; return the stored result value."""
        meta = self.build_meta(task_id, result, state, traceback, request)
        ttl = self.expires if state in states.READY_STATES else None
        self.set(
            self.task_key(task_id),
            self.encode(meta),
            ttl=ttl,
            is_ready=state in states.READY_STATES,
        )
        return result

    def mark_as_started(self, task_id: str, request: Any = None, **meta: Any) -> Any:
        """Record STARTED with ``meta`` (pid and hostname) as its result."""
        return self.store_result(task_id, meta, states.STARTED, request=request)

    def mark_as_done(self, task_id: str, result: Any, request: Any = None) -> Any:
        """Record SUCCESS."""
        return self.store_result(task_id, result, states.SUCCESS, request=request)

    def mark_as_failure(
        self, task_id: str, exc: BaseException, traceback: str | None = None, request: Any = None
    ) -> Any:
        """Record FAILURE."""
        return self.store_result(task_id, exc, states.FAILURE, traceback, request)

    def mark_as_retry(
        self, task_id: str, exc: BaseException, traceback: str | None = None, request: Any = None
    ) -> Any:
        """Record RETRY."""
        return self.store_result(task_id, exc, states.RETRY, traceback, request)

    def mark_as_revoked(self, task_id: str, reason: str = "revoked", request: Any = None) -> Any:
        """Record REVOKED with the reason (``revoked``, ``expired``, ``terminated``)."""
        from celeriac.exceptions import TaskRevokedError

        return self.store_result(task_id, TaskRevokedError(reason), states.REVOKED, None, request)

    def get_task_meta(self, task_id: str) -> dict[str, Any]:
        """The decoded meta of ``task_id``; PENDING when nothing is stored.

        Exception results come back as exception instances.
        """
        return self.task_meta_of(task_id, self.get(self.task_key(task_id)))

    def task_meta_of(self, task_id: str, raw: bytes | None) -> dict[str, Any]:
        """The meta of ``task_id`` from its stored value (PENDING for ``None``)."""
        if raw is None:
            return {
                "status": states.PENDING,
                "result": None,
                "traceback": None,
                "children": [],
                "date_done": None,
                "task_id": task_id,
            }
        meta = self.decode(raw)
        if not isinstance(meta, dict):
            raise BackendError(f"stored result for {task_id} is not an object")
        if meta.get("status") in states.EXCEPTION_STATES and is_exception_dict(meta.get("result")):
            meta["result"] = exception_from_dict(meta["result"])
        return meta

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float | None = None
    ) -> dict[str, Any]:
        """Wait for ``task_id`` from an event loop, without blocking it.

        Each read runs in a thread; between reads the loop is free. Reads start 5 ms
        apart and back off to ``interval`` (the backend's poll interval by default).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause, longest = 0.005, interval or self.poll_interval
        while True:
            meta = await asyncio.to_thread(self.get_task_meta, task_id)
            if meta["status"] in states.READY_STATES:
                return meta
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("The operation timed out.")
            wait = pause if deadline is None else min(pause, deadline - time.monotonic())
            await asyncio.sleep(max(wait, 0.0))
            pause = min(pause * 2, longest)

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float | None = None
    ) -> dict[str, Any]:
        """Wait until ``task_id`` is ready and return its meta.

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        key = self.task_key(task_id)
        while True:
            meta = self.get_task_meta(task_id)
            if meta["status"] in states.READY_STATES:
                return meta
            remaining = 3600.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("The operation timed out.")
            self.wait_for_change(key, min(remaining, interval or remaining))

    # -- groups and chords ----------------------------------------------------------

    @staticmethod
    def group_key(group_id: str) -> str:
        """The key a saved group is stored under."""
        return GROUP_KEY_PREFIX + group_id

    def save_group(self, group_id: str, task_ids: list[str]) -> None:
        """Store a group's member ids in Celery's ``celery-taskset-meta-<id>`` form."""
        meta = {"result": [[group_id, None], [[[task_id, None], None] for task_id in task_ids]]}
        self.set(self.group_key(group_id), self.encode(meta), ttl=self.expires, is_ready=True)

    def restore_group(self, group_id: str) -> list[str] | None:
        """The member ids of a saved group, ``None`` if it was not saved."""
        raw = self.get(self.group_key(group_id))
        if raw is None:
            return None
        meta = self.decode(raw)
        try:
            members = meta["result"][1]
            return [str(member[0][0]) for member in members]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"saved group {group_id} is malformed") from exc

    def delete_group(self, group_id: str) -> None:
        """Remove a saved group."""
        self.delete(self.group_key(group_id))

    def incr(self, key: str, *, ttl: float | None) -> int:
        """Atomically add one to the counter ``key`` and return the new value.

        Engines without an atomic counter leave this unimplemented; chords then need
        an engine that has one.
        """
        raise NotImplementedError(f"{type(self).__name__} has no atomic counter")

    def apply_chord(self, group_id: str, task_ids: list[str]) -> None:
        """Prepare the join of a chord whose header tasks are ``task_ids``.

        The default saves the group; :meth:`on_chord_part_return` counts parts against it.
        """
        self.save_group(group_id, task_ids)

    def add_to_chord(self, group_id: str, task_id: str | None = None) -> None:
        """Expect one more header part in chord ``group_id`` (``Task.add_to_chord``)."""
        task_ids = self.restore_group(group_id)
        if task_ids is None:
            raise BackendError(f"chord {group_id} is unknown to the result backend")
        if task_id is None:
            raise BackendError("add_to_chord needs the new part's task id on this backend")
        self.save_group(group_id, [*task_ids, task_id])

    def on_chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, state: str
    ) -> list[dict[str, Any]] | None:
        """Count one finished header task; return the header metas when it was the last.

        Exactly one call per chord returns the list (in header order); every other
        call returns ``None``. The caller then sends the body (or fails it).
        """
        task_ids = self.restore_group(group_id)
        if task_ids is None:
            raise BackendError(f"chord {group_id} is unknown to the result backend")
        count = self.incr(CHORD_COUNTER_PREFIX + group_id, ttl=self.expires)
        if count != len(task_ids):
            return None
        metas = [self.get_task_meta(member) for member in task_ids]
        self.delete(CHORD_COUNTER_PREFIX + group_id)
        self.delete_group(group_id)
        return metas

    def forget(self, task_id: str) -> None:
        """Delete the stored result of ``task_id``."""
        self.delete(self.task_key(task_id))

    def cleanup(self) -> None:
        """Delete expired results (engines without native expiry)."""
