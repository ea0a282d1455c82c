"""The Redis result backend, sharing Celery's keys: ``redis://``, ``rediss://``, ``redis+socket://``.

* Task results: ``celery-task-meta-<id>``, written with ``SETEX`` (``result_expires``;
  plain ``SET`` when results never expire) and ``PUBLISH``-ed on a channel of the same
  name, in one Lua script that also keeps a stored ready state from being replaced by a
  non-ready one (see :mod:`celeriac.backends._redis_scripts`).
* ``AsyncResult.get`` subscribes to the task's channel (a client that sends a task
  subscribes just before sending it), reads the key, then takes the value from the
  ``PUBLISH``: a result stored at any moment is seen at once, without polling
  (:mod:`celeriac.backends._redis_waiter`).
* Saved groups: ``celery-taskset-meta-<group id>`` (the base class's format).
* Chords: Celery 5.7's native join on ``celery-taskset-meta-<group id>.s/.t/.j/.d/.c``,
  so header tasks run by Celery workers and by celeriac workers count toward one join.

``result_backend_transport_options``: ``global_keyprefix`` (prepended to every key and
channel, plus ``_`` unless it ends in ``:``, ``_``, ``-`` or ``.``, as Celery does) and
``result_chord_ordered`` (default ``True``: the join is a sorted set, so the body gets
the results in header order).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, final

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from celeriac import states
from celeriac._internal.exception_codec import exception_from_dict, is_exception_dict
from celeriac._internal.naming import mask_url
from celeriac._internal.redis_direct import ThreadConnections, execute
from celeriac._internal.redis_url import connection_kwargs, prefixed
from celeriac.backends import _redis_scripts as lua
from celeriac.backends._redis_waiter import Waiters, next_value
from celeriac.backends.base import ResultBackend
from celeriac.exceptions import BackendError, TimeoutError

__all__ = ["RedisBackend"]

logger = logging.getLogger(__name__)

_SAFETY_READ = 1.0  # seconds between re-reads while waiting, should a PUBLISH be lost
_CLAIM_EXPIRES = 10
_DONE_EXPIRES = 300


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Turn redis-py errors into :class:`~celeriac.exceptions.BackendError`."""
    try:
        yield
    except redis.RedisError as exc:
        raise BackendError(f"Redis result backend {mask_url(url)} failed: {exc}") from exc


@final
class RedisBackend(ResultBackend):
    """A result backend on one Redis database.

    Args:
        url: The Redis URL.
        serializer: The result serializer name.
        accept: Content types accepted when reading.
        expires: Seconds a ready result lives; ``None`` keeps it.
        extended: Whether to store name, args, kwargs, worker, retries and queue.
        global_keyprefix: Prepended to every key and channel.
        chord_ordered: Keep chord results in header order (Celery's default).

    """

    def __init__(
        self,
        *,
        url: str = "redis://localhost:6379/0",
        serializer: str = "json",
        accept: Iterable[str] = ("json",),
        expires: float | None = 86400.0,
        extended: bool = False,
        global_keyprefix: str = "",
        chord_ordered: bool = True,
    ) -> None:
        super().__init__(
            url, serializer=serializer, accept=accept, expires=expires, extended=extended
        )
        self.prefix = global_keyprefix
        self.chord_ordered = chord_ordered
        self._connection = connection_kwargs(url)
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._waiters = Waiters(self._redis)
        # Each thread's own connection for a result's store and read (one per task).
        self._direct = ThreadConnections()

    @classmethod
    def from_url(
        cls, url: str, *, transport_options: Mapping[str, Any] | None = None, **options: Any
    ) -> RedisBackend:
        """Build a backend from a Redis URL and ``result_backend_transport_options``.

        Args:
            url: The URL.
            transport_options: ``global_keyprefix``, ``result_chord_ordered``.
            **options: :class:`~celeriac.backends.base.ResultBackend` keyword options.

        """
        extra = dict(transport_options or {})
        return cls(
            url=url,
            global_keyprefix=str(extra.get("global_keyprefix") or ""),
            chord_ordered=bool(extra.get("result_chord_ordered", True)),
            **options,
        )

    def __repr__(self) -> str:
        return f"<RedisBackend {mask_url(self.url)}>"

    def _redis(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                retry = Retry(ExponentialBackoff(cap=0.5, base=0.01), 3)
                client = redis.Redis(**self._connection, retry=retry)
                self._scripts = {
                    "set": client.register_script(lua.SET_RESULT),
                    "chord_part": client.register_script(lua.CHORD_PART_RETURN),
                    "chord_cleanup": client.register_script(lua.CHORD_CLEANUP),
                }
                self._client = client
            return self._client

    def _eval(self, name: str, keys: list[str], args: list[Any]) -> Any:
        client = self._redis()
        return self._scripts[name](keys=keys, args=args, client=client)

    def key(self, key: str) -> str:
        """``key`` as stored in Redis, under the global key prefix."""
        return prefixed(self.prefix, key)

    def open(self) -> None:
        """Connect lazily; nothing to create. Safe to call twice."""

    def close(self) -> None:
        """Close the connections. Safe to call twice."""
        self._waiters.drop()
        self._direct.close()
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- storage primitives ----------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """Return the stored value of ``key``; ``None`` if missing or expired."""
        with _translate_errors(self.url):
            conn = self._direct.get(self._client or self._redis())
            value: Any = execute(conn, "GET", self.key(key))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, *, ttl: float | None, is_ready: bool) -> None:
        """SET(EX) and PUBLISH ``value``; a non-ready value never replaces a ready one."""
        ttl_ms = max(round(ttl * 1000), 1) if ttl else 0
        full = self.key(key)
        keys, args = (full, full + ".ready"), (value, ttl_ms, "1" if is_ready else "0")
        with _translate_errors(self.url):
            client = self._client or self._redis()  # made first: it registers the scripts
            self._direct.run_script(client, self._scripts["set"], keys, args)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        full = self.key(key)
        with _translate_errors(self.url):
            self._redis().delete(full, full + ".ready")

    def incr(self, key: str, *, ttl: float | None) -> int:
        """INCR ``key`` (and let it expire after ``ttl`` seconds); return the new value."""
        with _translate_errors(self.url), self._redis().pipeline() as pipe:
            pipe.incr(self.key(key))
            if ttl:
                pipe.expire(self.key(key), max(round(ttl), 1))
            return int(pipe.execute()[0])

    def wait_for_change(self, key: str, timeout: float) -> None:
        """Block until a value is published for ``key``, or ``timeout`` seconds pass."""
        channel = self.key(key)
        with _translate_errors(self.url), self._waiters.subscription(channel) as (pubsub, _):
            next_value(pubsub, channel, timeout)

    def on_task_call(self, task_id: str, *, fresh: bool) -> None:
        """Subscribe to the task's channel before it is built (see ``_redis_waiter``)."""
        self._waiters.subscribe_early(self.key(self.task_key(task_id)), fresh=fresh)

    def on_task_sending(self, task_id: str) -> None:
        """Read that subscription's confirmation before the task goes out."""
        self._waiters.confirm_early(self.key(self.task_key(task_id)))

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float | None = None
    ) -> dict[str, Any]:
        """Wait until ``task_id`` is ready: subscribe, read, then take the value PUBLISH-ed.

        The first read is left out when the task was sent by this thread, with a new id,
        after its subscription was confirmed (see ``_redis_waiter``).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.

        """
        deadline = None if timeout is None else time.monotonic() + timeout
        channel = self.key(self.task_key(task_id))
        with (
            _translate_errors(self.url),
            self._waiters.subscription(channel) as (pubsub, read_first),
        ):
            meta = self.get_task_meta(task_id) if read_first else self.task_meta_of(task_id, None)
            while meta["status"] not in states.READY_STATES:
                wait = _SAFETY_READ
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        meta = self.get_task_meta(task_id)  # a last read: the key, not a wait
                        if meta["status"] in states.READY_STATES:
                            return meta
                        raise TimeoutError("The operation timed out.")
                    wait = min(wait, remaining)
                value = next_value(pubsub, channel, wait)
                # What was published is what was stored; with nothing heard, read again.
                meta = (
                    self.get_task_meta(task_id)
                    if value is None
                    else self.task_meta_of(task_id, value)
                )
            return meta

    # -- chords: Celery 5.7's native join --------------------------------------

    def _chord_keys(self, group_id: str) -> dict[str, str]:
        base = self.key(self.group_key(group_id))
        return {part: base + part for part in (".j", ".t", ".s", ".d", ".c", "")}

    def set_chord_size(self, group_id: str, size: int) -> None:
        """Announce a chord of ``size`` header tasks (``DEL .c``, ``SET .s``), as Celery."""
        keys = self._chord_keys(group_id)
        with _translate_errors(self.url), self._redis().pipeline() as pipe:
            pipe.delete(keys[".c"])
            pipe.set(keys[".s"], size, ex=round(self.expires) if self.expires else None)
            pipe.execute()

    def add_to_chord(self, group_id: str, task_id: str | None = None) -> None:
        """Expect one more header part (``INCR .t``, e.g. a header task replaced itself)."""
        with _translate_errors(self.url):
            self._redis().incr(self._chord_keys(group_id)[".t"])

    def apply_chord(self, group_id: str, task_ids: list[str]) -> None:
        """Save the group and announce the chord's size before the header is sent."""
        self.save_group(group_id, task_ids)
        self.set_chord_size(group_id, len(task_ids))

    def on_chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, state: str
    ) -> list[dict[str, Any]] | None:
        """Count one finished header task; the call that completes the chord gets the metas.

        The part is recorded as ``[1, task_id, state, result]`` in ``.j`` (once per task
        and index, so a redelivered task is not counted twice); the caller that
        completes the count claims ``.c``, reads every part in header order and leaves
        ``.c = "done"``. Every other call returns ``None``.
        """
        raw = self.get(self.task_key(task_id))
        result = self.decode(raw).get("result") if raw is not None else None
        keys = self._chord_keys(group_id)
        token = uuid.uuid4().hex
        expires = round(self.expires) if self.expires else 0
        args = [
            task_id,
            self.encode([1, task_id, state, result]),
            "1" if self.chord_ordered else "0",
            "+inf" if group_index is None else group_index,
            expires,
            expires,
            _CLAIM_EXPIRES,
            token,
        ]
        order = [".j", ".t", ".s", ".d", "", ".c"]
        with _translate_errors(self.url):
            count, _diff, size, claimed = self._eval("chord_part", [keys[k] for k in order], args)
            if int(count) == -1 or not claimed:
                if size is None:
                    logger.warning("Chord %s: no size announced, cannot complete", group_id)
                return None
            client = self._redis()
            parts: list[Any]
            if self.chord_ordered:
                parts = client.zrange(keys[".j"], 0, -1)
            else:
                parts = client.lrange(keys[".j"], 0, -1)
            cleanup = [keys[k] for k in (".c", ".j", ".t", ".s", ".d")]
            self._eval("chord_cleanup", cleanup, [token, _DONE_EXPIRES])
        return [self._chord_meta(part) for part in parts]

    def _chord_meta(self, part: Any) -> dict[str, Any]:
        _, task_id, state, result = self.decode(part)
        if state in states.EXCEPTION_STATES and is_exception_dict(result):
            result = exception_from_dict(result)
        return {"status": state, "result": result, "task_id": task_id}
