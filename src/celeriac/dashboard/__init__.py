"""The web dashboard and its Prometheus endpoint (``celeriac dashboard``).

:class:`Dashboard` is the live model (events, remote control, queue lengths, metrics);
``celeriac.dashboard.server.DashboardServer`` serves it over HTTP and needs the
``dashboard`` extra (``pip install 'celeriac[dashboard]'``, which brings aiohttp).
"""

from celeriac.dashboard.cluster import Dashboard
from celeriac.dashboard.options import DashboardOptions

__all__ = ["Dashboard", "DashboardOptions"]
