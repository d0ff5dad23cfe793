"""Recipe ``[operator]`` kind ``eit``: the CEM on a disk (entry point in ``invtools.recipe_operators``)."""

from __future__ import annotations

from typing import Any

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
from invtools.plugins import RecipeOperator


def _eit(cfg: dict[str, Any]) -> CEMForward:
    if cfg["arc"]:
        el = Electrodes.on_arc(cfg["electrodes"], tuple(cfg["arc"]), cfg["coverage"],
                               cfg["contact_impedance"])
    else:
        el = Electrodes.equally_spaced(cfg["electrodes"], cfg["coverage"], cfg["contact_impedance"],
                                       cfg["offset"])
    return CEMForward.on_disk(el, cfg["h"], cfg["radius"], cfg["currents"], cfg["measurements"],
                              exclude_driving=cfg["exclude_driving"], solver=cfg["solver"], n_threads=1)


eit = RecipeOperator({"electrodes": 16, "coverage": 0.5, "contact_impedance": 0.01, "arc": [],
                      "offset": 0.0, "h": 0.1, "radius": 1.0, "currents": "adjacent",
                      "measurements": "differences", "exclude_driving": False, "solver": "auto",
                      "simulation_mesh_size": 0.0}, _eit)


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
