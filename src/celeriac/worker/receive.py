"""Receiving a task message: check it, log it, and refuse what must not run.

A message that cannot be read goes to the dead-letter queue, one for a task this worker
does not know fails (``NotRegistered``), an expired or revoked one is recorded REVOKED,
one whose ``eta`` is still ahead goes back to the broker to be held there; the rest
become :class:`~celeriac.worker.settle.Job` objects for the consumer to reserve.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from celeriac.brokers.base import DEAD_LETTER_QUEUE, Delivery
from celeriac.exceptions import CeleriacError, ContentDisallowed, NotRegistered
from celeriac.protocol import TaskMessage, parse_task_message
from celeriac.utils.log import LogSite
from celeriac.worker.hooks import Hook, run_hooks
from celeriac.worker.revokes import Revocations
from celeriac.worker.settle import Acks, Job

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Reception"]

logger = logging.getLogger(__name__)
#: Logged for every task: its caller is looked up once.
log_received = LogSite(logger, logging.INFO, "Task %s[%s] received")


class Reception:
    """Turns deliveries into jobs for one consumer.

    Args:
        app: The app (tasks, backend, broker).
        accept: Content types the worker decodes.
        revoked: Task ids to refuse.
        hooks: The consumer's hooks (``on_received``, ``on_revoked``).
        acks: The consumer's acks (messages settled here are acked).
    """

    def __init__(
        self,
        app: Celery,
        *,
        accept: frozenset[str],
        revoked: Revocations,
        hooks: Sequence[Hook],
        acks: Acks,
    ) -> None:
        self.app = app
        self.accept = accept
        self.revoked = revoked
        self.hooks = hooks
        self.acks = acks
        self.dead_letter_queue = DEAD_LETTER_QUEUE

    async def receive(self, delivery: Delivery) -> Job | None:
        """The job to reserve for ``delivery``, or ``None`` if it was settled here."""
        message = delivery.message
        content_type = message.content_type or "application/data"
        if content_type not in self.accept:
            refused = f"content type {content_type!r} is not accepted"
            await self.dead_letter(delivery, refused, ContentDisallowed(refused))
            return None
        try:
            task_message = parse_task_message(message, self.accept)
        except CeleriacError as exc:
            await self.dead_letter(delivery, f"invalid task message: {exc}", exc)
            return None
        name, task_id = task_message.name, task_message.id
        log_received(name, task_id, extra={"task_id": task_id})
        if name not in self.app.tasks:
            logger.error(
                "Received unregistered task of type %r. The message has been ignored and "
                "discarded (task id %s).",
                name,
                task_id,
                extra={"task_id": task_id},
            )
            unknown = NotRegistered(name)
            await asyncio.to_thread(self.app.backend.mark_as_failure, task_id, unknown)
            self.acks.add(delivery)
            run_hooks(self.hooks, "on_unknown", task_message, unknown)
            return None
        expired = task_message.expires is not None and task_message.expires <= self.app.now()
        if expired or task_id in self.revoked:
            await self.refuse(delivery, task_message, expired=expired)
            return None
        eta = task_message.eta
        if eta is not None and eta > self.app.now() and self.app.broker.supports_eta:
            # A peer published it without broker-side ETA: hand it back, held until due.
            await self.app.broker.apublish(
                message,
                exchange=delivery.exchange,
                routing_key=delivery.routing_key or delivery.queue,
                eta=eta.timestamp(),
            )
            self.acks.add(delivery)
            return None
        run_hooks(self.hooks, "on_received", task_message)
        return Job(delivery, task_message)

    async def refuse(self, delivery: Delivery, message: TaskMessage, *, expired: bool) -> None:
        """Do not run a revoked or expired task: record REVOKED and ack its message."""
        reason = "expired" if expired else "revoked"
        logger.info("Task %s[%s] %s, not running", message.name, message.id, reason)
        await asyncio.to_thread(self.app.backend.mark_as_revoked, message.id, reason)
        self.acks.add(delivery)
        run_hooks(self.hooks, "on_revoked", message, expired=expired)

    async def dead_letter(self, delivery: Delivery, reason: str, exc: BaseException) -> None:
        """Move ``delivery`` to the dead-letter queue, saying why (``exc``: the error)."""
        headers = delivery.message.headers
        task_id = headers.get("id") if isinstance(headers, dict) else None
        logger.error(
            "Moving message %s from queue %r to %r: %s",
            task_id or delivery.tag,
            delivery.queue,
            self.dead_letter_queue,
            reason,
        )
        await self.app.broker.adead_letter(delivery, reason)
        run_hooks(self.hooks, "on_rejected", delivery.message, exc)
