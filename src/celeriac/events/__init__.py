"""Monitoring events in Celery's format: send them, receive them, model the cluster."""

from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.event import Event, group_from, utcoffset
from celeriac.events.receiver import EventReceiver
from celeriac.events.state import State

__all__ = ["Event", "EventDispatcher", "EventReceiver", "State", "group_from", "utcoffset"]
