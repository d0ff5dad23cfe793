"""What every device adapter images with: the kept values of a file, an operator restricted to
them, difference imaging (one linearised step, or Gauss-Newton on log-conductivity) and the
warnings about non-physical images."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.data.h5file import DataFileError
from invtools.data.readers import Measurements
from invtools.operators import Operator
from invtools.operators.composition import ComposedOperator, LinearOperator
from invtools.operators.parametrization import net_operator
from invtools.workflow.reconstruct.tank_checks import image_warnings

Tensor = torch.Tensor

LOG_STEP_CLIP = 6.0  # GN's start changes no pixel's log-conductivity by more (a preset's [x0] clip)
MIN_CLASSICAL_VALUES = 31  # one injection's differences: fewer leave a classical method nothing to fit


def image_fields(desc) -> dict:
    """The :class:`~invtools.workflow.reconstruct.result.Reconstruction` fields every device image
    has: pixel rows growing with y (the device-model interface), the description's class names
    and the square its label images cover (``[image] label_frame``)."""
    return {"pixel_rows": "bottom-up", "classes": tuple(desc["segmentation"]["classes"]),
            "label_frame": float(desc["image"]["label_frame"])}


def kept(meas: Measurements) -> np.ndarray:
    """(m,) True where the file (and its reference) hold a value."""
    return np.ones(meas.y.shape[1], dtype=bool) if meas.mask is None else meas.mask


def check_enough(meas: Measurements, method: str) -> None:
    """Refuse a file that keeps fewer than :data:`MIN_CLASSICAL_VALUES` values for a classical method."""
    keep = kept(meas)
    if keep.sum() < MIN_CLASSICAL_VALUES:
        raise DataFileError(f"{meas.path}: keeps {int(keep.sum())} of {keep.size} values; --method "
                            f"{method} needs at least {MIN_CLASSICAL_VALUES}")


def masked(op: Operator, mask: np.ndarray | None) -> Operator:
    """``op`` with only the outputs ``mask`` (m,) keeps (None: ``op`` itself)."""
    if mask is None:
        return op
    rows = np.nonzero(mask)[0]
    select = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, op.n_out))
    return ComposedOperator(LinearOperator(select, op.out_shape, (rows.size,)), op)


def prior_weight(ccfg: ClassicalConfig, default: float) -> float:
    """The given prior weight, else the Laplacian ``default``; a TV prior's Hessian at the
    reference is the Laplacian over eps, so eps times the default gives it the same first step."""
    return ccfg.lam or default * (ccfg.tv_smoothing if ccfg.prior == "tv" else 1.0)


def difference_images(op: Operator, y: Tensor, sigma0: float, method: str, ccfg: ClassicalConfig | None,
                      default_weight: float) -> tuple[np.ndarray, float]:
    """Images (B, *in_shape), S/m, and the prior weight (:func:`prior_weight` of
    ``default_weight``), for difference data ``y = y_meas - y_ref + A(sigma0)`` (B, m):
    ``linearized``, one regularised step in the conductivity from sigma0; ``gn``, Gauss-Newton on
    log-conductivity started from one linearised step in log-conductivity (clipped to
    :data:`LOG_STEP_CLIP`), with the prior centred at sigma0 (its objective never rises above
    that start's)."""
    ccfg = ccfg or ClassicalConfig()
    lam = prior_weight(ccfg, default_weight)
    ones = torch.ones(y.shape[0], *op.in_shape, dtype=torch.float64)
    if method == "linearized":
        with torch.no_grad():
            dy = y - op(sigma0 * ones[:1])
        delta, _ = linearized_step(op, dy, sigma0 * ones, ClassicalConfig(**{**ccfg.__dict__, "lam": lam}))
        return (sigma0 + delta).numpy(), lam
    log_op, s0 = net_operator(op, "log"), torch.log(sigma0 * ones)
    with torch.no_grad():
        step, _ = linearized_step(log_op, y - log_op(s0[:1]), s0,
                                  ClassicalConfig(**{**ccfg.__dict__, "method": "linearized", "lam": lam}))
    gn = ClassicalConfig(**{**ccfg.__dict__, "method": "gn", "lam": lam})
    start = s0 + torch.clamp(step, -LOG_STEP_CLIP, LOG_STEP_CLIP)
    s, _ = gauss_newton(log_op, y, start, gn, x_ref=s0)
    return torch.exp(s).numpy(), lam


def flag_nonphysical(x: np.ndarray, path: Path) -> list[str]:
    """The non-physical values of images x (S/m), one line each (printed on stderr too)."""
    lines = image_warnings(x)
    if lines:
        print(f"warning: {path}: the reconstruction has {'; '.join(lines)}", file=sys.stderr)
    return lines
