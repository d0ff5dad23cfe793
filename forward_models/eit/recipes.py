"""Recipe ``[operator]`` kinds ``eit`` (the CEM on a disk, any 2-D outline, a mesh file or a
3-D cylinder tank) and ``ktc2023`` (entry points in ``invtools.recipe_operators``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from forward_models.eit.cylinder import CylinderElectrodes
from forward_models.eit.domains import from_mesh_file, on_cylinder, on_outline
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
from forward_models.eit.ktc2023 import (
    KTC_CONTACT_IMPEDANCE,
    KTC_IMAGE_PIXELS,
    KTC_NOMINAL_CURRENT,
    KTC_RADIUS,
    ktc_image_operator,
    ktc_operator,
    ktc_patterns,
)
from forward_models.eit.outline import ellipse_outline, read_outline
from invtools.operators.plugins import RecipeOperator


def _eit(cfg: dict[str, Any]) -> CEMForward:
    """The CEM on the recipe's ``domain``: ``disk`` (of ``radius``), ``ellipse`` (``semi_axes``),
    ``outline`` (an x, y file), ``mesh`` (a mesh file), or the 3-D ``cylinder`` (``radius``,
    ``height``, electrode rings at ``ring_heights``, each ``electrode_height`` tall). On 2-D
    domains other than the disk, electrode positions are arc-length fractions of the boundary."""
    if cfg["arc"]:
        el = Electrodes.on_arc(cfg["electrodes"], tuple(cfg["arc"]), cfg["coverage"],
                               cfg["contact_impedance"])
    else:
        el = Electrodes.equally_spaced(cfg["electrodes"], cfg["coverage"], cfg["contact_impedance"],
                                       cfg["offset"])
    patterns = {"currents": cfg["currents"], "measurements": cfg["measurements"],
                "exclude_driving": cfg["exclude_driving"], "solver": cfg["solver"], "n_threads": 1}
    domain = cfg["domain"]
    if domain == "disk":
        return CEMForward.on_disk(el, cfg["h"], cfg["radius"], edge_levels=cfg["edge_levels"], **patterns)
    if domain in ("ellipse", "outline"):
        if domain == "ellipse":
            if not cfg["semi_axes"]:
                raise ValueError("recipe [operator] domain = \"ellipse\" needs semi_axes = [a, b] (m)")
            a, b = cfg["semi_axes"]
            outline = ellipse_outline(a, b, int(np.ceil(np.pi * (a + b) / (cfg["h"] / 2))))
        else:
            if not cfg["outline"]:
                raise ValueError("recipe [operator] domain = \"outline\" needs outline = \"FILE\" "
                                 "(x, y rows)")
            outline = read_outline(cfg["outline"])
        return on_outline(outline, el, cfg["h"], edge_levels=cfg["edge_levels"], **patterns)
    if domain == "mesh":
        if not cfg["mesh_file"]:
            raise ValueError("recipe [operator] domain = \"mesh\" needs mesh_file = \"FILE\"")
        return from_mesh_file(cfg["mesh_file"], el, **patterns)[0]
    if domain == "cylinder":
        if not (cfg["height"] > 0 and cfg["ring_heights"] and cfg["electrode_height"] > 0):
            raise ValueError("recipe [operator] domain = \"cylinder\" needs height, ring_heights and "
                             "electrode_height (m)")
        rings = CylinderElectrodes(el, tuple(cfg["ring_heights"]), cfg["electrode_height"])
        return on_cylinder(rings, cfg["radius"], cfg["height"], cfg["h"], edge_levels=cfg["edge_levels"],
                           **patterns)
    raise ValueError(f"recipe [operator] domain = {domain!r}: must be one of {list(DOMAINS)}")


DOMAINS = ("disk", "ellipse", "outline", "mesh", "cylinder")
eit = RecipeOperator({"electrodes": 16, "coverage": 0.5, "contact_impedance": 0.01, "arc": [],
                      "offset": 0.0, "h": 0.1, "radius": 1.0, "currents": "adjacent",
                      "measurements": "differences", "exclude_driving": False, "solver": "auto",
                      "simulation_mesh_size": 0.0, "edge_levels": 0, "domain": "disk",
                      "semi_axes": [], "outline": "", "mesh_file": "", "height": 0.0,
                      "ring_heights": [], "electrode_height": 0.0}, _eit)


def _ktc2023(cfg: dict[str, Any]):
    """The tank on an N x N pixel image (``pixels`` = N > 0) or on the mesh's elements (0)."""
    if cfg["radius"] != KTC_RADIUS:
        raise ValueError(f"recipe [operator] radius = {cfg['radius']}: the KTC2023 tank's is {KTC_RADIUS} m")
    currents, measurement = ktc_patterns(cfg["current"])
    kwargs = {"mesh_size": cfg["h"], "coverage": cfg["coverage"],
              "contact_impedance": cfg["contact_impedance"], "edge_levels": cfg["edge_levels"]}
    if cfg["pixels"] > 0:
        op = ktc_image_operator(currents, measurement, cfg["pixels"], **kwargs)
        op.outer.n_threads = 1  # generation workers are the parallelism
    else:
        op = ktc_operator(currents, measurement, **kwargs)
        op.n_threads = 1
    return op


ktc2023 = RecipeOperator({"h": 0.01, "radius": KTC_RADIUS, "coverage": 0.5,
                          "contact_impedance": KTC_CONTACT_IMPEDANCE, "current": KTC_NOMINAL_CURRENT,
                          "edge_levels": 0, "pixels": KTC_IMAGE_PIXELS, "difference": False,
                          "simulation_mesh_size": 0.0, "simulation_edge_levels": 0}, _ktc2023)
