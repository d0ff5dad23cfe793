"""Differentiable optimisation layers with LPGD (Lagrangian Proximal Gradient Descent)."""

from invtools.solver_layers.backends import ClarabelQP, HighsLP
from invtools.solver_layers.layer import (
    BACKWARDS,
    VARIANTS,
    LPGDLayer,
    OptLayer,
    implicit_gradients,
    lpgd_gradients,
)
from invtools.solver_layers.problems import (
    InfeasibleProblemError,
    QPBatch,
    Solution,
    SolverError,
    UnboundedProblemError,
)
from invtools.solver_layers.projections import (
    BoundedMassProjection,
    BoxProjection,
    LabelingLP,
    ProjectionLayer,
    project_bounded_mass,
    project_box,
    project_simplex,
)

__all__ = ["BACKWARDS", "VARIANTS", "BoundedMassProjection", "BoxProjection", "ClarabelQP",
           "HighsLP", "InfeasibleProblemError", "LPGDLayer", "LabelingLP", "OptLayer",
           "ProjectionLayer", "QPBatch", "Solution", "SolverError", "UnboundedProblemError",
           "implicit_gradients", "lpgd_gradients", "project_bounded_mass", "project_box",
           "project_simplex"]
