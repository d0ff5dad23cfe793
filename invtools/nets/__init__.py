"""Unrolled reconstruction networks and their building blocks."""

from invtools.geometry import element_adjacency
from invtools.nets.blocks import GraphConv, ResidualBlock
from invtools.nets.directions import DIRECTIONS, make_direction
from invtools.nets.unrolled import LPD, LPGD, NETS, UnrolledNet, build_net

__all__ = ["DIRECTIONS", "LPD", "LPGD", "NETS", "GraphConv", "ResidualBlock", "UnrolledNet",
           "build_net", "element_adjacency", "make_direction"]
