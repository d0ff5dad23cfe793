"""Recipe ``[operator]`` kind ``eit``: the CEM on a disk (entry point in ``invtools.recipe_operators``)."""

from __future__ import annotations

from typing import Any

from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
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
