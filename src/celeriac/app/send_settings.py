"""The settings every task message reads, read once per change of the app's settings."""

from __future__ import annotations

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


def send_defaults(app: Celery) -> SendDefaults:
    """The sending settings of ``app``, read again only after its settings changed."""
    return app.conf.kept("send_defaults", _read)


def _read(conf: Settings) -> SendDefaults:
    # None of these settings has an environment variable (see Settings.kept).
    return SendDefaults(
        conf.task_serializer,
        conf.task_compression,
        bool(conf.task_ignore_result),
        conf.task_default_priority or 0,
        bool(conf.task_send_sent_event),
        bool(conf.task_always_eager),
    )
