"""Message brokers: one ABC (:class:`Broker`) and one module per engine."""

from celeriac.brokers.base import Broker, Delivery
from celeriac.brokers.registry import broker_from_url

__all__ = ["Broker", "Delivery", "broker_from_url"]
