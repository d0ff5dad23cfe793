"""invtools: learned reconstruction for nonlinear inverse problems.

The package by role: :mod:`invtools.operators` (the forward-operator interface),
:mod:`invtools.classical` (Gauss-Newton and linearised steps), :mod:`invtools.nets` (unrolled
LPGD/LPD with RMA, post-processing U-Nets), :mod:`invtools.solver_layers` (LPGD backward passes
through embedded optimisation), :mod:`invtools.data` (recipes, phantoms, data sets, measurement
files), :mod:`invtools.training`, :mod:`invtools.analysis` (metrics, segmentation, plots),
:mod:`invtools.workflow` (the CLI, evaluate, reconstruct) and :mod:`invtools.support` (safe
files, checked inputs, provenance). The names below are the public API.
"""

from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.data import H5Dataset, Measurements, generate, load_recipe, read_measurements
from invtools.nets import LPD, LPGD, build_net
from invtools.operators import (
    Operator,
    OperatorCheck,
    OperatorInputError,
    check_operator,
    operator_from_config,
    register_operator,
)
from invtools.training import TrainConfig, TrainedModel, Trainer, load_model
from invtools.workflow.evaluate import evaluate
from invtools.workflow.reconstruct import Reconstruction, reconstruct

__version__ = "0.1.0"

__all__ = ["LPD", "LPGD", "ClassicalConfig", "H5Dataset", "Measurements", "Operator", "OperatorCheck",
           "OperatorInputError", "Reconstruction", "TrainConfig", "TrainedModel", "Trainer",
           "__version__", "build_net", "check_operator", "evaluate", "gauss_newton", "generate",
           "linearized_step", "load_model", "load_recipe", "operator_from_config", "read_measurements",
           "reconstruct", "register_operator"]
