"""The settings every task message reads, read once per change of the app's settings."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.app.config import Settings

__all__ = ["SendDefaults", "send_defaults"]


class SendDefaults(NamedTuple):
    """The settings every message reads, kept until the app's settings change."""

    serializer: str
    compression: str | None
    ignore_result: bool
    priority: int
    send_sent_event: bool
    always_eager: bool


# The defaults last read per app, with the settings object and version they came from.
_read_defaults: weakref.WeakKeyDictionary[Celery, tuple[Settings, int, SendDefaults]] = (
    weakref.WeakKeyDictionary()
)


def send_defaults(app: Celery) -> SendDefaults:
    """The sending settings of ``app``, read again only after its settings changed.

    None of them has an environment variable, so the settings' version covers them all.
    """
    conf = app.conf
    found = _read_defaults.get(app)
    if found is not None and found[0] is conf and found[1] == conf.version:
        return found[2]
    version = conf.version
    defaults = SendDefaults(
        conf.task_serializer,
        conf.task_compression,
        bool(conf.task_ignore_result),
        conf.task_default_priority or 0,
        bool(conf.task_send_sent_event),
        bool(conf.task_always_eager),
    )
    _read_defaults[app] = (conf, version, defaults)
    return defaults
