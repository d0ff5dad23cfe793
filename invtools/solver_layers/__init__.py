"""Differentiable optimisation layers with Lagrangian Proximal Gradient Descent (LPGD) backward
passes: ``LagrangianLayer``, ``OptLayer(backward="lpgd")`` and the projection layers. (The
unrolled *network* :class:`invtools.nets.LPGD` is learned proximal gradient descent.)"""

from invtools.solver_layers.backends import ClarabelQP, HighsLP
from invtools.solver_layers.layer import (
    BACKWARDS,
    VARIANTS,
    LagrangianLayer,
    LPGDLayer,
    OptLayer,
    implicit_gradients,
    lagrangian_gradients,
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
    BallProjection,
    BoundedMassProjection,
    BoxProjection,
    LabelingLP,
    ProjectionLayer,
    project_ball,
    project_bounded_mass,
    project_box,
    project_simplex,
)

__all__ = ["BACKWARDS", "VARIANTS", "BallProjection", "BoundedMassProjection", "BoxProjection", "ClarabelQP",
           "HighsLP", "InfeasibleProblemError", "LPGDLayer", "LabelingLP", "LagrangianLayer",
           "OptLayer", "ProjectionLayer", "QPBatch", "Solution", "SolverError",
           "UnboundedProblemError", "implicit_gradients", "lagrangian_gradients", "lpgd_gradients",
           "project_ball", "project_bounded_mass", "project_box", "project_simplex"]
