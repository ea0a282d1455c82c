"""Turning a call into a published message: times, parent links, routing, protocol."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import logging
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from celeriac import _state, signals
from celeriac._internal.ids import uuid4_text
from celeriac.app.send_settings import send_defaults
from celeriac.brokers.base import Outgoing
from celeriac.canvas import Signature, maybe_signature
from celeriac.protocol import build_task_message, client_origin

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.task import Context, Task

__all__ = ["publish_task", "publishing_batch", "republish_for_retry"]

logger = logging.getLogger(__name__)

#: Messages sent per ``publish_many`` call while a batch is open: one round trip each.
BATCH_SIZE = 500


class _Batch:
    """Messages built inside :func:`publishing_batch`, waiting to be sent together."""

    __slots__ = ("app", "chord", "defaults", "items", "sent")

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.defaults = send_defaults(app)
        # The last chord option seen and its dict form: a chord's header members share it.
        self.chord: tuple[Any, dict[str, Any] | None] = (None, None)
        self.items: list[Outgoing] = []
        # (task name, body, queue) of each item, for task-sent and after_task_publish
        self.sent: list[tuple[str, Any, str]] = []

    def add(self, item: Outgoing, name: str, body: Any, queue: str) -> None:
        self.items.append(item)
        self.sent.append((name, body, queue))
        if len(self.items) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        items, sent = self.items, self.sent
        self.items, self.sent = [], []
        if items:
            self.app.broker.publish_many(items)
        for item, (name, body, queue) in zip(items, sent, strict=True):
            _after_publish(self.app, name, body, item, queue, self.defaults.send_sent_event)


# The batch open in this thread or asyncio task, if any (see publishing_batch).
_open_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "celeriac_publish_batch", default=None
)


@contextlib.contextmanager
def publishing_batch(app: Celery) -> Iterator[None]:
    """Send the task messages published inside the block together, when it ends.

    ``group.apply_async`` (and so a chord's header) uses it: the messages go out through
    ``broker.publish_many``, :data:`BATCH_SIZE` at a time, in the order they were built,
    instead of one round trip each. If the block raises, what it built is not sent. A
    batch opened inside another one for the same app joins it.
    """
    outer = _open_batch.get()
    if outer is not None and outer.app is app:
        yield
        return
    batch = _Batch(app)
    token = _open_batch.set(batch)
    try:
        yield
    finally:
        _open_batch.reset(token)
    batch.flush()


@functools.lru_cache(maxsize=4)
def _origin(pid: int) -> str:
    """The ``origin`` header of this process (a fork gets its own)."""
    return client_origin()


def _after_publish(
    app: Celery, name: str, body: Any, item: Outgoing, queue: str, send_sent_event: bool
) -> None:
    """What follows a publish: the ``task-sent`` event (if enabled) and the signal."""
    if send_sent_event:
        from celeriac.events.sent import send_task_sent

        send_task_sent(
            app.broker,
            item.message.headers,
            queue=queue,
            exchange=item.exchange,
            routing_key=item.routing_key,
        )
    if signals.after_task_publish.has_receivers:
        signals.after_task_publish.send(
            sender=name,
            body=body,
            headers=item.message.headers,
            exchange=item.exchange,
            routing_key=item.routing_key,
        )


def _as_datetime(app: Celery, value: Any, now: dt.datetime) -> dt.datetime | None:
    """A countdown in seconds, a datetime, or an ISO string, as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return now + dt.timedelta(seconds=value)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        aware: dt.datetime = value if value.tzinfo else value.replace(tzinfo=app.timezone)
        return aware.astimezone(dt.timezone.utc)
    raise TypeError(f"expected seconds or a datetime, not {value!r}")


def _chord_body(chord: Any, app: Celery, batch: _Batch | None) -> dict[str, Any] | None:
    """The chord option as a plain dict; a batch converts each chord object once."""
    if chord is None:
        return None
    if batch is not None and batch.chord[0] is chord:
        return batch.chord[1]
    sig = maybe_signature(chord, app)
    body = dict(sig) if sig is not None else None
    if batch is not None:
        batch.chord = (chord, body)
    return body


def _signature_list(value: Any, app: Celery) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    items: Iterable[Any] = value if isinstance(value, list | tuple) else [value]
    sigs = [maybe_signature(item, app) for item in items]
    return [dict(sig) for sig in sigs if sig is not None] or None


def publish_task(
    app: Celery,
    name: str,
    args: Iterable[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    *,
    countdown: float | None = None,
    eta: dt.datetime | str | None = None,
    expires: float | dt.datetime | str | None = None,
    task_id: str | None = None,
    link: Any = None,
    link_error: Any = None,
    add_to_parent: bool = True,
    group_id: str | None = None,
    group_index: int | None = None,
    retries: int = 0,
    chord: Any = None,
    chain: Any = None,
    reply_to: str | None = None,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    root_id: str | None = None,
    parent_id: str | None = None,
    shadow: str | None = None,
    serializer: str | None = None,
    compression: str | None = None,
    headers: dict[str, Any] | None = None,
    ignore_result: bool | None = None,
    **options: Any,
) -> str:
    """Build and publish one task message; return its task id.

    Raises:
        EncodeError: the arguments cannot be serialized (nothing is published).
    """
    batch = _open_batch.get()
    if batch is not None and batch.app is not app:
        batch = None
    defaults = batch.defaults if batch is not None else send_defaults(app)
    fresh = not task_id
    task_id = task_id or uuid4_text()
    args = list(args) if args else []
    kwargs = dict(kwargs) if kwargs else {}
    running = _state.current_task_and_request()
    parent: Context | None = running[1] if running else None
    ignore_result = defaults.ignore_result if ignore_result is None else bool(ignore_result)
    # A caller that may wait for the result: the backend can start listening for it.
    listens = (
        batch is None
        and not ignore_result
        and (parent is None or parent.called_directly or parent.is_eager)
    )
    if listens:
        app.backend.on_task_call(task_id, fresh=fresh)
    if parent is not None and parent.id:
        parent_id = parent_id or parent.id
        root_id = root_id or parent.root_id or parent.id
    now = dt.datetime.now(dt.timezone.utc)
    eta_at = _as_datetime(app, countdown, now) if countdown is not None else None
    if eta_at is None and eta is not None:
        eta_at = _as_datetime(app, eta, now)
    expires_at = _as_datetime(app, expires, now) if expires is not None else None
    route = app.router.route(name, args, kwargs, options)
    priority = route.priority
    if priority is None:
        priority = defaults.priority
    chord_body = _chord_body(chord, app, batch) if chord is not None else None
    callbacks = _signature_list(link, app) if link is not None else None
    errbacks = _signature_list(link_error, app) if link_error is not None else None
    chain_steps = _signature_list(chain, app) if chain is not None else None
    message = build_task_message(
        name=name,
        task_id=task_id,
        args=args,
        kwargs=kwargs,
        serializer=serializer or defaults.serializer,
        compression=compression or defaults.compression,
        eta=eta_at,
        expires=expires_at,
        retries=retries,
        group_id=group_id,
        group_index=group_index,
        root_id=root_id,
        parent_id=parent_id,
        shadow=shadow,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        callbacks=callbacks,
        errbacks=errbacks,
        chain=chain_steps,
        chord=chord_body,
        origin=_origin(os.getpid()),
        ignore_result=ignore_result,
        # rpc:// results go back to the client: its queue, or the one this task replies to.
        reply_to=reply_to
        or (parent.reply_to if parent is not None else None)
        or app.backend.client_reply_to()
        or "",
        priority=int(priority),
        headers=headers,
        now=now,
    )
    due = eta_at.timestamp() if eta_at is not None and eta_at > now else None
    body: Any = None
    if signals.before_task_publish.has_receivers:
        body = _body(args, kwargs, callbacks, errbacks, chain_steps, chord_body)
        signals.before_task_publish.send(
            sender=name,
            body=body,
            exchange=route.exchange,
            routing_key=route.routing_key,
            headers=message.headers,
            properties=message.properties,
            declare=[],
            retry_policy=None,
        )
    if batch is not None:
        body = body or _body(args, kwargs, callbacks, errbacks, chain_steps, chord_body)
        batch.add(
            Outgoing(message, route.routing_key, route.exchange, due), name, body, route.queue
        )
    else:
        if listens:
            app.backend.on_task_sending(task_id)
        app.broker.publish(message, exchange=route.exchange, routing_key=route.routing_key, eta=due)
        if defaults.send_sent_event or signals.after_task_publish.has_receivers:
            body = body or _body(args, kwargs, callbacks, errbacks, chain_steps, chord_body)
            item = Outgoing(message, route.routing_key, route.exchange, due)
            _after_publish(app, name, body, item, route.queue, defaults.send_sent_event)
    if parent is not None and add_to_parent:
        parent.children.append([[task_id, None], None])
    return task_id


def _body(
    args: list[Any],
    kwargs: dict[str, Any],
    callbacks: list[dict[str, Any]] | None,
    errbacks: list[dict[str, Any]] | None,
    chain: list[dict[str, Any]] | None,
    chord: dict[str, Any] | None,
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """The message body as the publish signals pass it: ``(args, kwargs, embed)``."""
    embed = {"callbacks": callbacks, "errbacks": errbacks, "chain": chain, "chord": chord}
    return args, kwargs, embed


def republish_for_retry(
    app: Celery,
    task: Task[Any, Any],
    request: Context,
    *,
    args: list[Any],
    kwargs: dict[str, Any],
    eta: dt.datetime | None,
    countdown: float | None,
    **options: Any,
) -> None:
    """Send ``request`` again under the same id with ``retries + 1`` (``Task.retry``)."""
    hard, soft = request.timelimit
    custom_headers = {
        key: value for key, value in (request.headers or {}).items() if key not in _PROTOCOL_HEADERS
    }
    delivery = request.delivery_info or {}
    publish_task(
        app,
        task.name,
        args,
        kwargs,
        countdown=countdown,
        eta=eta,
        expires=options.pop("expires", request.expires),
        task_id=request.id,
        retries=request.retries + 1,
        group_id=request.group,
        group_index=request.group_index,
        root_id=request.root_id,
        parent_id=request.id,
        reply_to=request.reply_to,
        time_limit=options.pop("time_limit", hard),
        soft_time_limit=options.pop("soft_time_limit", soft),
        link=[Signature(s) for s in request.callbacks or ()] or None,
        link_error=[Signature(s) for s in request.errbacks or ()] or None,
        chain=request.chain,
        chord=request.chord,
        shadow=request.shadow,
        headers=custom_headers,
        add_to_parent=False,
        queue=options.pop("queue", delivery.get("routing_key")),
        **options,
    )


_PROTOCOL_HEADERS = frozenset(
    {
        "lang",
        "task",
        "id",
        "shadow",
        "eta",
        "expires",
        "group",
        "group_index",
        "retries",
        "timelimit",
        "root_id",
        "parent_id",
        "argsrepr",
        "kwargsrepr",
        "origin",
        "ignore_result",
        "replaced_task_nesting",
        "stamped_headers",
        "stamps",
        "compression",
    }
)
