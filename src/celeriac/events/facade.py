"""``app.events``: Celery's entry points to events, bound to one app."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.receiver import EventReceiver, Handler
from celeriac.events.state import State

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.brokers.base import Broker

__all__ = ["AppEvents"]


class AppEvents:
    """``app.events.Receiver(...)``, ``.State()``, ``.Dispatcher(...)``."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def Receiver(
        self,
        connection: Broker | None = None,
        handlers: dict[str, Handler] | None = None,
        **options: Any,
    ) -> EventReceiver:
        """A receiver on ``connection`` (a broker from ``app.connection()``) or the app's."""
        channel = connection.event_channel() if connection is not None else None
        return EventReceiver(self.app, handlers, channel=channel, **options)

    def State(self, **options: Any) -> State:
        """An empty cluster model."""
        return State(**options)

    def Dispatcher(
        self,
        connection: Broker | None = None,
        hostname: str | None = None,
        enabled: bool = True,
        **options: Any,
    ) -> EventDispatcher:
        """A dispatcher sending as ``hostname`` (``gen<pid>@<host>`` style by default)."""
        broker = connection if connection is not None else self.app.broker
        return EventDispatcher(
            broker.event_channel(),
            hostname=hostname or socket.gethostname(),
            enabled=enabled,
            **options,
        )
