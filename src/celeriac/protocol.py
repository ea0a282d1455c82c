"""Task messages, protocol v2: building them and reading them, with no transport code.

A :class:`Message` is what every broker carries: headers, properties, and the serialized
body. :func:`build_task_message` makes one exactly as Celery 5.x does;
:func:`parse_task_message` reads one (v2, v1 or the hybrid) into a :class:`TaskMessage`
whose body stays undecoded until :meth:`TaskMessage.decode_body` is called, so the worker
can leave that work to the pool.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from celeriac import serialization
from celeriac.exceptions import DecodeError, InvalidTaskError

__all__ = [
    "Message",
    "TaskMessage",
    "build_task_message",
    "client_origin",
    "parse_datetime",
    "parse_task_message",
    "safe_repr",
]

REPR_MAXSIZE = 1024


@dataclass(frozen=True, slots=True)
class Message:
    """A message as brokers carry it.

    Attributes:
        body: The serialized (and possibly compressed) body.
        headers: Application headers (the task protocol lives here).
        properties: AMQP-style properties: ``correlation_id``, ``reply_to``,
            ``delivery_mode``, ``priority`` and, when given, ``expiration``.
        content_type: The serializer's content type.
        content_encoding: ``utf-8`` or ``binary``.
    """

    body: bytes
    headers: dict[str, Any]
    properties: dict[str, Any]
    content_type: str = "application/json"
    content_encoding: str = "utf-8"

    @property
    def priority(self) -> int:
        """The message priority, 0 when none was given."""
        value = self.properties.get("priority")
        return value if isinstance(value, int) else 0


def client_origin() -> str:
    """The ``origin`` header a client writes: ``gen<pid>@<hostname>``."""
    return f"gen{os.getpid()}@{socket.gethostname()}"


def safe_repr(value: Any, maxsize: int = REPR_MAXSIZE) -> str:
    """``repr(value)`` cut to ``maxsize`` characters, never raising."""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(value).__name__}: {exc!r}>"
    return text if len(text) <= maxsize else text[: maxsize - 3] + "..."


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat()


def parse_datetime(value: Any) -> dt.datetime | None:
    """Read an ISO-8601 header value as an aware datetime (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidTaskError(f"invalid ISO-8601 datetime {value!r}") from exc
    else:
        raise InvalidTaskError(f"invalid datetime value {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def build_task_message(
    *,
    name: str,
    task_id: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    serializer: str = "json",
    compression: str | None = None,
    eta: dt.datetime | None = None,
    expires: dt.datetime | None = None,
    retries: int = 0,
    group_id: str | None = None,
    group_index: int | None = None,
    root_id: str | None = None,
    parent_id: str | None = None,
    shadow: str | None = None,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    callbacks: list[dict[str, Any]] | None = None,
    errbacks: list[dict[str, Any]] | None = None,
    chain: list[dict[str, Any]] | None = None,
    chord: dict[str, Any] | None = None,
    origin: str | None = None,
    ignore_result: bool = False,
    reply_to: str = "",
    priority: int = 0,
    headers: dict[str, Any] | None = None,
    argsrepr: str | None = None,
    kwargsrepr: str | None = None,
    stamped_headers: list[str] | None = None,
    stamps: dict[str, Any] | None = None,
    replaced_task_nesting: int = 0,
    now: dt.datetime | None = None,
) -> Message:
    """Build a protocol-v2 task message the way Celery 5.7 does.

    Raises:
        EncodeError: the arguments cannot be serialized; nothing is built.
    """
    kwargs = kwargs or {}
    args = list(args)
    embed = {"callbacks": callbacks, "errbacks": errbacks, "chain": chain, "chord": chord}
    content_type, content_encoding, body = serialization.dumps([args, kwargs, embed], serializer)
    task_headers: dict[str, Any] = {
        "lang": "py",
        "task": name,
        "id": task_id,
        "shadow": shadow,
        "eta": _iso(eta),
        "expires": _iso(expires),
        "group": group_id,
        "group_index": group_index,
        "retries": retries,
        "timelimit": [time_limit, soft_time_limit],
        "root_id": root_id or task_id,
        "parent_id": parent_id,
        "argsrepr": argsrepr if argsrepr is not None else safe_repr(tuple(args)),
        "kwargsrepr": kwargsrepr if kwargsrepr is not None else safe_repr(kwargs),
        "origin": origin or client_origin(),
        "ignore_result": ignore_result,
        "replaced_task_nesting": replaced_task_nesting,
        "stamped_headers": stamped_headers,
        "stamps": stamps or {},
    }
    if headers:
        # Custom headers never replace the protocol's own.
        task_headers = {**headers, **task_headers}
    if compression:
        task_headers["compression"], body = serialization.compress(body, compression)
    properties: dict[str, Any] = {
        "correlation_id": task_id,
        "reply_to": reply_to,
        "delivery_mode": 2,
        "priority": priority,
    }
    if expires is not None:
        remaining = (expires - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()
        properties["expiration"] = str(max(0, int(remaining * 1000)))
    return Message(body, task_headers, properties, content_type, content_encoding)


@dataclass(slots=True)
class TaskMessage:
    """A received task message: headers read, body left encoded.

    ``headers`` keeps every header as received, including custom ones.
    """

    name: str
    id: str
    message: Message
    headers: dict[str, Any]
    eta: dt.datetime | None = None
    expires: dt.datetime | None = None
    retries: int = 0
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    shadow: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    argsrepr: str = ""
    kwargsrepr: str = ""
    origin: str | None = None
    ignore_result: bool = False
    _decoded: tuple[list[Any], dict[str, Any], dict[str, Any]] | None = field(
        default=None, repr=False
    )

    @property
    def reply_to(self) -> str | None:
        """The ``reply_to`` property (used by the rpc backend)."""
        value = self.message.properties.get("reply_to")
        return value if isinstance(value, str) and value else None

    @property
    def correlation_id(self) -> str:
        """The ``correlation_id`` property, the task id when absent."""
        value = self.message.properties.get("correlation_id")
        return value if isinstance(value, str) and value else self.id

    def decode_body(
        self, accept: frozenset[str] | None = None
    ) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        """Decode the body into ``(args, kwargs, embed)``.

        Raises:
            ContentDisallowed: the content type is not accepted.
            DecodeError: the body cannot be decoded or has the wrong shape.
        """
        if self._decoded is None:
            payload = _load_body(self.message, accept)
            self._decoded = _split_body(payload)
        return self._decoded


def _load_body(message: Message, accept: frozenset[str] | None) -> Any:
    body = message.body
    compression = message.headers.get("compression")
    if compression:
        body = serialization.decompress(body, str(compression))
    return serialization.loads(body, message.content_type, message.content_encoding, accept)


def _split_body(payload: Any) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    if isinstance(payload, dict):  # v1 or hybrid body
        args, kwargs = payload.get("args", []), payload.get("kwargs", {})
        embed = {
            "callbacks": payload.get("callbacks"),
            "errbacks": payload.get("errbacks"),
            "chain": payload.get("chain"),
            "chord": payload.get("chord"),
        }
    elif isinstance(payload, list | tuple) and len(payload) in (2, 3):
        args, kwargs = payload[0], payload[1]
        embed = payload[2] if len(payload) == 3 and payload[2] is not None else {}
    else:
        raise DecodeError("task body is not [args, kwargs, embed]")
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise DecodeError("task body args must be a list and kwargs an object")
    if not isinstance(embed, dict):
        raise DecodeError("task body embed must be an object")
    return list(args), kwargs, embed


def _timelimit(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, list | tuple) and len(value) == 2:
        hard, soft = value
        return _number_or_none(hard), _number_or_none(soft)
    return None, None


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_task_message(message: Message, accept: frozenset[str] | None = None) -> TaskMessage:
    """Read a task message's headers (v2), or its body for v1 and hybrid messages.

    Raises:
        InvalidTaskError: ``task`` or ``id`` is missing, or a header has a bad value.
        ContentDisallowed, DecodeError: a v1 body cannot be read.
    """
    headers = message.headers
    if not isinstance(headers, dict):
        raise InvalidTaskError("message headers are not an object")
    fields: dict[str, Any] = headers  # only read (a v1 message gets a dict of its own)
    decoded = None
    if "task" not in headers:
        payload = _load_body(message, accept)
        if not isinstance(payload, dict) or "task" not in payload:
            raise InvalidTaskError("message has no 'task' header and no v1 body")
        decoded = _split_body(payload)
        fields = {**payload, "group": payload.get("group") or payload.get("taskset")}
    name, task_id = fields.get("task"), fields.get("id")
    if not isinstance(name, str) or not name:
        raise InvalidTaskError("message has no 'task' name")
    if not isinstance(task_id, str) or not task_id:
        raise InvalidTaskError(f"message for {name!r} has no 'id'")
    retries = fields.get("retries") or 0
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise InvalidTaskError(f"task {task_id}: 'retries' is not an integer")
    stamps = fields.get("stamps")
    if stamps is not None and not isinstance(stamps, dict):
        raise InvalidTaskError(f"task {task_id}: 'stamps' is not an object")
    group_index = fields.get("group_index")
    hard, soft = _timelimit(fields.get("timelimit"))
    return TaskMessage(
        name=name,
        id=task_id,
        message=message,
        headers=headers,
        eta=parse_datetime(fields.get("eta")),
        expires=parse_datetime(fields.get("expires")),
        retries=retries,
        root_id=_str_or_none(fields.get("root_id")),
        parent_id=_str_or_none(fields.get("parent_id")),
        group=_str_or_none(fields.get("group")),
        group_index=group_index if isinstance(group_index, int) else None,
        shadow=_str_or_none(fields.get("shadow")),
        time_limit=hard,
        soft_time_limit=soft,
        argsrepr=str(fields.get("argsrepr") or ""),
        kwargsrepr=str(fields.get("kwargsrepr") or ""),
        origin=_str_or_none(fields.get("origin")),
        ignore_result=bool(fields.get("ignore_result", False)),
        _decoded=decoded,
    )
