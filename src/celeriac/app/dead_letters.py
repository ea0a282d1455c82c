"""The dead-letter queue: what is in it, and putting messages back where they came from.

The worker moves a message it cannot handle (undecodable body, refused content type,
missing ``task``/``id`` headers) to :data:`~celeriac.brokers.base.DEAD_LETTER_QUEUE`,
unchanged but for two headers naming why and from which queue. Everything here goes
through the :class:`~celeriac.brokers.base.Broker` API only, so it works on every broker.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from celeriac.brokers.base import DEAD_LETTER_QUEUE, Broker, Delivery
from celeriac.protocol import Message

__all__ = ["DeadLetter", "list_dead_letters", "requeue_dead_letters", "restored_message"]

REASON_HEADER = "x-dead-letter-reason"
QUEUE_HEADER = "x-dead-letter-queue"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered message, with what its headers say about it."""

    message: Message

    @property
    def task_id(self) -> str | None:
        """The task id (header ``id``), if the message has one."""
        return _text(self.message.headers.get("id"))

    @property
    def task_name(self) -> str | None:
        """The task name (header ``task``), if the message has one."""
        return _text(self.message.headers.get("task"))

    @property
    def queue(self) -> str | None:
        """The queue the message was taken from (header ``x-dead-letter-queue``)."""
        return _text(self.message.headers.get(QUEUE_HEADER))

    @property
    def reason(self) -> str | None:
        """Why the worker could not handle it (header ``x-dead-letter-reason``)."""
        return _text(self.message.headers.get(REASON_HEADER))

    def as_dict(self) -> dict[str, str | None]:
        """Summarize as ``celeriac dead-letters list --json`` prints it."""
        return {
            "id": self.task_id,
            "task": self.task_name,
            "queue": self.queue,
            "reason": self.reason,
        }


def list_dead_letters(broker: Broker, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead-lettered messages, oldest first, left in place."""
    return [DeadLetter(message) for message in broker.peek(DEAD_LETTER_QUEUE, limit)]


def restored_message(message: Message) -> Message:
    """``message`` as it was before it was dead-lettered (the two headers removed)."""
    headers = {k: v for k, v in message.headers.items() if k not in (REASON_HEADER, QUEUE_HEADER)}
    return Message(
        message.body,
        headers,
        dict(message.properties),
        message.content_type,
        message.content_encoding,
    )


def requeue_dead_letters(
    broker: Broker, task_ids: Collection[str] | None = None
) -> list[DeadLetter]:
    """Move dead-lettered messages back to their original queues.

    Each message is published to its original queue before it is acked here, so a
    failure midway can duplicate a message but never lose one. Messages that are not
    selected, or that do not say where they came from, are left in the dead-letter queue.

    Args:
        broker: The broker holding the dead-letter queue.
        task_ids: Move only the messages with these task ids; all of them when ``None``.

    Returns:
        The messages moved.

    """
    wanted = None if task_ids is None else set(task_ids)
    moved: list[DeadLetter] = []
    # Skipped messages stay leased until the end: requeued at once, get() would
    # hand the same message back on the next turn.
    skipped: list[Delivery] = []
    try:
        for _ in range(broker.size(DEAD_LETTER_QUEUE)):
            delivery = broker.get([DEAD_LETTER_QUEUE], timeout=0)
            if delivery is None:
                break
            letter = DeadLetter(delivery.message)
            target = letter.queue
            if target in (None, DEAD_LETTER_QUEUE) or (
                wanted is not None and letter.task_id not in wanted
            ):
                skipped.append(delivery)
                continue
            try:
                broker.publish(restored_message(delivery.message), routing_key=str(target))
            except BaseException:
                skipped.append(delivery)
                raise
            broker.ack(delivery)
            moved.append(letter)
    finally:
        for delivery in skipped:
            broker.requeue(delivery)
    return moved
