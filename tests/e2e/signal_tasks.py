"""The demo project's app with every signal recorded (copied in as proj/signaltasks.py).

Workers run with ``-A proj.signaltasks``, so the receivers are connected when the app is
loaded, before the worker sets up logging, as they would be in a project's app module.
"""

from .celeriac import app
from .signal_log import connect_all

connect_all()

__all__ = ["app"]
