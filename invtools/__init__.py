"""invtools: learned reconstruction for nonlinear inverse problems.

The package by role: :mod:`invtools.operators` (the forward-operator interface),
:mod:`invtools.classical` (Gauss-Newton and linearised steps), :mod:`invtools.nets` (unrolled
LPGD/LPD with RMA, post-processing U-Nets), :mod:`invtools.solver_layers` (LPGD backward passes
through embedded optimisation), :mod:`invtools.data` (recipes, phantoms, data sets, measurement
files), :mod:`invtools.training`, :mod:`invtools.analysis` (metrics, segmentation, plots),
:mod:`invtools.workflow` (the CLI, evaluate, reconstruct) and :mod:`invtools.support` (safe
files, checked inputs, provenance). The names below are the public API.

The operator interface is imported with the package; the other names on first use, so that
a forward model (which imports :mod:`invtools.operators`) does not load the whole workflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from invtools.operators import (
    Operator,
    OperatorCheck,
    OperatorInputError,
    check_operator,
    operator_from_config,
    register_operator,
)

if TYPE_CHECKING:
    from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
    from invtools.data import H5Dataset, Measurements, generate, load_recipe, read_measurements
    from invtools.nets import LPD, LPGD, build_net
    from invtools.training import TrainConfig, TrainedModel, Trainer, load_model
    from invtools.workflow.evaluate import evaluate
    from invtools.workflow.reconstruct import Reconstruction, reconstruct

__version__ = "0.1.0"

_LAZY = {  # public name -> the module that defines it
    **dict.fromkeys(["ClassicalConfig", "gauss_newton", "linearized_step"], "invtools.classical"),
    **dict.fromkeys(["H5Dataset", "Measurements", "generate", "load_recipe", "read_measurements"],
                    "invtools.data"),
    **dict.fromkeys(["LPD", "LPGD", "build_net"], "invtools.nets"),
    **dict.fromkeys(["TrainConfig", "TrainedModel", "Trainer", "load_model"], "invtools.training"),
    "evaluate": "invtools.workflow.evaluate",
    **dict.fromkeys(["Reconstruction", "reconstruct"], "invtools.workflow.reconstruct"),
}

__all__ = ["LPD", "LPGD", "ClassicalConfig", "H5Dataset", "Measurements", "Operator", "OperatorCheck",
           "OperatorInputError", "Reconstruction", "TrainConfig", "TrainedModel", "Trainer",
           "__version__", "build_net", "check_operator", "evaluate", "gauss_newton", "generate",
           "linearized_step", "load_model", "load_recipe", "operator_from_config", "read_measurements",
           "reconstruct", "register_operator"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'invtools' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
