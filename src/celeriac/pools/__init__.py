"""Execution pools: one ABC (:class:`Pool`) and one module per kind."""

from celeriac.pools.base import Pool
from celeriac.pools.registry import pool_class

__all__ = ["Pool", "pool_class"]
