"""Unrolled reconstruction networks and their building blocks."""

from invtools.nets.blocks import GraphConv, ResidualBlock
from invtools.nets.directions import DIRECTIONS, make_direction
from invtools.nets.unrolled import (
    LPD,
    LPGD,
    NETS,
    UnrolledNet,
    build_net,
    build_net_from_config,
    net_config,
    net_defaults,
)
from invtools.operators.geometry import element_adjacency

__all__ = ["DIRECTIONS", "LPD", "LPGD", "NETS", "GraphConv", "ResidualBlock", "UnrolledNet",
           "build_net", "build_net_from_config", "element_adjacency", "make_direction", "net_config",
           "net_defaults"]
