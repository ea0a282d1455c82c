"""``celeriac multi``: start, stop and restart several detached workers by name."""

from celeriac.multi.cluster import Cluster
from celeriac.multi.nodes import Node, nodes_from_argv

__all__ = ["Cluster", "Node", "nodes_from_argv"]
