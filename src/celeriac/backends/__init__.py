"""Result backends: one ABC (:class:`ResultBackend`) and one module per engine."""

from celeriac.backends.base import ResultBackend
from celeriac.backends.registry import backend_from_url

__all__ = ["ResultBackend", "backend_from_url"]
