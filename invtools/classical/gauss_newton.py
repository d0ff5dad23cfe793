"""Classical reconstruction on any :class:`~invtools.operators.Operator`: a regularised
Gauss-Newton / Levenberg-Marquardt solver and the one-step linearised (difference)
reconstruction. Used as a baseline and as the initial guess ``x0`` of the networks.

Objective (per sample): ``0.5 ||A(x) - y||^2 + lam P(x - x_ref)`` with P a prior of
:func:`~invtools.classical.regularization.make_prior`: ``0.5 d^T R d`` (``laplacian``,
``tikhonov``) or a smoothed total variation (``tv``); ``lam`` is chosen on the first
linearisation (discrepancy principle with the known noise norm, else L-curve) unless given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from invtools.classical.regularization import TikhonovFamily, make_prior
from invtools.operators import Operator
from invtools.operators.geometry import input_adjacency

Tensor = torch.Tensor


@dataclass
class ClassicalConfig:
    """Settings of the classical solver (stored with data sets that use it for ``x0``).

    method: ``gn`` (Levenberg-Marquardt iterations) or ``linearized`` (one step at x_ref).
    prior: ``laplacian`` (smoothness), ``tikhonov`` (identity) or ``tv`` (smoothed total
    variation, edges kept; reweighted in every Gauss-Newton step).
    lam: prior weight; None chooses it (discrepancy if ``noise_level`` is set, else L-curve).
    noise_level: relative noise level of the data (noise rms / data rms), if known.
    iterations: maximum Gauss-Newton iterations.
    """

    method: str = "gn"
    prior: str = "laplacian"
    lam: float | None = None
    noise_level: float | None = None
    iterations: int = 10
    tol: float = 1e-6
    tv_smoothing: float = 0.01  # eps of the smoothed TV, in the unit of the unknowns


@dataclass
class ClassicalInfo:
    """What the classical solver did for one sample: the prior weight ``lam`` it used, and
    ``objective``, the objective at the start and after each accepted Levenberg-Marquardt step
    (empty from :func:`linearized_step`)."""

    lam: float
    objective: list[float] = field(default_factory=list)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _noise_norm(y: np.ndarray, level: float | None) -> float | None:
    return None if level is None else float(level * np.sqrt(np.mean(y**2)) * np.sqrt(y.size))


def linearized_step(op: Operator, dy: Tensor, x_ref: Tensor, config: ClassicalConfig | None = None
                    ) -> tuple[Tensor, list[ClassicalInfo]]:
    """One regularised linearised step ``dx`` (B, *in_shape) with ``J(x_ref) dx ~ dy``.

    With ``dy = y - y_ref`` (data minus reference data) this is the classical difference
    reconstruction; with ``dy = y - A(x_ref)`` it is one Gauss-Newton step.
    """
    cfg = config or ClassicalConfig(method="linearized")
    R = make_prior(cfg.prior, op.in_shape, input_adjacency(op), cfg.tv_smoothing).hessian(
        np.zeros(int(np.prod(op.in_shape))))  # a TV prior's, at the reference
    x_ref = x_ref.detach().double()
    if cfg.lam is not None and bool((x_ref == x_ref[:1]).all()):  # one Jacobian for all samples
        J = _np(op.jacobian(x_ref[:1]))[0].reshape(-1, R.shape[0])
        dx = FixedJacobianStep(J, R, cfg.lam).solve(_np(dy).reshape(dy.shape[0], -1))
        return (torch.as_tensor(dx, dtype=x_ref.dtype).reshape(x_ref.shape),
                [ClassicalInfo(cfg.lam) for _ in range(x_ref.shape[0])])
    J = op.jacobian(x_ref)
    out, infos = [], []
    for b in range(x_ref.shape[0]):
        r = _np(dy[b]).ravel()
        keep = _kept(r)
        family = TikhonovFamily(_np(J[b])[keep], r[keep], R)
        lam = cfg.lam if cfg.lam is not None else family.choose(_noise_norm(r[keep], cfg.noise_level))
        out.append(family.step(lam))
        infos.append(ClassicalInfo(lam))
    dx = torch.as_tensor(np.stack(out), dtype=x_ref.dtype).reshape(x_ref.shape)
    return dx, infos


def _kept(y: np.ndarray) -> np.ndarray:
    """(m,) bool: the values of data y (m,) that exist (NaN marks a missing one); refuses data
    with none."""
    keep = np.isfinite(y)
    if not keep.any():
        raise ValueError("every data value is missing (NaN): nothing to reconstruct from")
    return keep


class FixedJacobianStep:
    """The regularised linearised step ``(J_M^T J_M + lam R)^{-1} J_M^T r_M`` for a fixed
    Jacobian J (m, n) and prior R (n, n), where M are the rows a sample keeps (NaN in r marks a
    missing value): one Cholesky factor per mask, cached (a new mask costs one n x n factorisation).

    Complete data take the same ``np.linalg.solve`` per sample as before masks existed, so a
    sample's step never depends on the batch it came in (data sets are sharded by sample)."""

    def __init__(self, J: np.ndarray, R, lam: float, cache_size: int = 64):
        self.J, self.lam, self.cache_size = np.asarray(J, dtype=np.float64), float(lam), cache_size
        self.R = R.toarray() if hasattr(R, "toarray") else np.asarray(R, dtype=np.float64)
        self.H = self.J.T @ self.J + self.lam * self.R
        self._factors: dict[bytes, tuple] = {}

    def _factor(self, keep: np.ndarray):
        import scipy.linalg

        key = np.packbits(keep).tobytes()
        if key not in self._factors:
            if len(self._factors) >= self.cache_size:
                self._factors.pop(next(iter(self._factors)))
            if keep.sum() > keep.size // 2:  # J_M^T J_M = J^T J - (the removed rows' part)
                Jr = self.J[~keep]
                gram = self.H - self.lam * self.R - Jr.T @ Jr
            else:
                Jk = self.J[keep]
                gram = Jk.T @ Jk
            self._factors[key] = scipy.linalg.cho_factor(gram + self.lam * self.R)
        return self._factors[key]

    def solve(self, r: np.ndarray) -> np.ndarray:
        """Steps (B, n) for residuals r (B, m), NaN where a value is missing."""
        import scipy.linalg

        out = []
        for row in np.asarray(r, dtype=np.float64):
            keep = _kept(row)
            if keep.all():
                out.append(np.linalg.solve(self.H, self.J.T @ row))
            else:
                out.append(scipy.linalg.cho_solve(self._factor(keep), self.J[keep].T @ row[keep]))
        return np.stack(out)


def _jacobian(op: Operator, x: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    J = _np(op.jacobian(torch.as_tensor(x).reshape(1, *op.in_shape)))[0].reshape(-1, x.size)
    return J if keep is None else J[keep]


def _solve_one(op: Operator, y: np.ndarray, x: np.ndarray, x_ref: np.ndarray, prior,
               cfg: ClassicalConfig) -> tuple[np.ndarray, ClassicalInfo]:
    """Levenberg-Marquardt on one sample (flattened arrays); ``prior`` from :func:`make_prior`;
    NaN in y marks a missing value: the data fit uses the kept ones only."""
    keep = _kept(y)
    y = y[keep]

    def residual(x: np.ndarray) -> np.ndarray:
        return _np(op.A(torch.as_tensor(x, dtype=torch.float64).reshape(1, *op.in_shape))).ravel()[keep] - y

    def objective(r: np.ndarray, x: np.ndarray, lam: float) -> float:
        return 0.5 * float(r @ r) + lam * prior.value(x - x_ref)

    J, r = _jacobian(op, x, keep), residual(x)
    lam = cfg.lam if cfg.lam is not None else TikhonovFamily(J, -r, prior.hessian(0 * x)).choose(
        _noise_norm(y, cfg.noise_level))
    phi = objective(r, x, lam)
    info, mu = ClassicalInfo(lam, [phi]), 1e-3
    linear = cfg.method == "linearized"
    for it in range(1 if linear else cfg.iterations):
        if it > 0:
            J = _jacobian(op, x, keep)
        H = J.T @ J + lam * prior.hessian(x - x_ref)
        g = J.T @ r + lam * prior.gradient(x - x_ref)
        if linear:  # one step, taken whatever it gives (it may leave the operator's domain)
            return x + np.linalg.solve(H, -g), info
        accepted = False
        for _ in range(8):
            step = np.linalg.solve(H + mu * np.diag(np.diag(H)), -g)
            try:
                r_new = residual(x + step)
            except (ValueError, RuntimeError):  # the step left the domain (e.g. a singular FEM system)
                mu *= 4.0
                continue
            phi_new = objective(r_new, x + step, lam)
            if phi_new < phi:
                accepted = True
                break
            mu *= 4.0
        if not accepted:
            break
        decrease = (phi - phi_new) / max(phi, 1e-300)
        x, r, phi, mu = x + step, r_new, phi_new, max(mu / 3.0, 1e-9)
        info.objective.append(phi)
        if decrease < cfg.tol:
            break
    return x, info


def gauss_newton(op: Operator, y: Tensor, x0: Tensor, config: ClassicalConfig | None = None,
                 x_ref: Tensor | None = None) -> tuple[Tensor, list[ClassicalInfo]]:
    """Levenberg-Marquardt minimisation of the regularised objective, per sample.

    Args:
        op: forward operator; y (B, *out_shape); x0 (B, *in_shape) start.
        x_ref: prior mean (default x0).
    Returns:
        x (B, *in_shape) and per-sample info (chosen weight, objective per accepted iterate).
    """
    cfg = config or ClassicalConfig()
    prior = make_prior(cfg.prior, op.in_shape, input_adjacency(op), cfg.tv_smoothing)
    x_ref = x0 if x_ref is None else x_ref
    results = [_solve_one(op, _np(y[b]).ravel(), _np(x0[b]).ravel().copy(), _np(x_ref[b]).ravel(), prior, cfg)
               for b in range(x0.shape[0])]
    x = torch.as_tensor(np.stack([r[0] for r in results]), dtype=x0.dtype).reshape(x0.shape)
    return x, [r[1] for r in results]


def classical_reconstruction(op: Operator, y: Tensor, x0: Tensor,
                             config: ClassicalConfig | None = None) -> Tensor:
    """``gauss_newton`` or one ``linearized`` step from x0, as set by ``config.method``."""
    cfg = config or ClassicalConfig()
    if cfg.method not in ("gn", "linearized"):
        raise ValueError(f"unknown classical method {cfg.method!r}; choose gn or linearized")
    return gauss_newton(op, y, x0, cfg)[0]
