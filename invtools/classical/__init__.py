"""Classical (non-learned) reconstruction: Gauss-Newton / Levenberg-Marquardt with Tikhonov or
smoothness priors, one-step linearised difference imaging, and parameter choice rules."""

from invtools.classical.gauss_newton import (
    ClassicalConfig,
    ClassicalInfo,
    classical_reconstruction,
    gauss_newton,
    linearized_step,
)
from invtools.classical.regularization import PRIORS, TikhonovFamily, prior_matrix

__all__ = ["PRIORS", "ClassicalConfig", "ClassicalInfo", "TikhonovFamily", "classical_reconstruction",
           "gauss_newton", "linearized_step", "prior_matrix"]
