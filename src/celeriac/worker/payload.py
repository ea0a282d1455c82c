"""What the consumer hands a pool for one task: the parsed message and its delivery info.

A :class:`TaskJob` is a plain pair (``message, delivery_info = job``). Pools that run
jobs in the worker's process get it as it is; the prefork pool pickles it for a child.
There it travels as the message's raw parts (body bytes, header and property dicts) and
the fields the worker parsed from them, in a plain tuple: pickling the ``TaskMessage``
dataclass itself takes about 11 us, and parsing the headers again in the child 5 us.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, NamedTuple

from celeriac.protocol import Message, TaskMessage

__all__ = ["TaskJob"]

_NAMES = [field.name for field in dataclasses.fields(TaskMessage)]
#: The fields that follow ``name``, ``id`` and ``message``, in order. The decoded body
#: (last) stays behind: the child decodes it, checking its content type as it always did.
_PARSED = operator.attrgetter(*[name for name in _NAMES[3:] if name != "_decoded"])


class TaskJob(NamedTuple):
    """One task for a pool: ``(message, delivery_info)``."""

    message: TaskMessage
    delivery_info: dict[str, Any]

    def __reduce__(self) -> tuple[Any, ...]:
        message = self.message
        raw = message.message
        parts = (raw.body, raw.headers, raw.properties, raw.content_type, raw.content_encoding)
        fields = (message.name, message.id, parts, _PARSED(message))
        return _rebuild, (fields, self.delivery_info)


def _rebuild(fields: tuple[Any, ...], delivery_info: dict[str, Any]) -> TaskJob:
    # The worker parsed (and accepted) this message already: no content check here.
    name, task_id, parts, parsed = fields
    return TaskJob(TaskMessage(name, task_id, Message(*parts), *parsed), delivery_info)
