"""Classical reconstruction on any :class:`~invtools.operators.Operator`: a regularised
Gauss-Newton / Levenberg-Marquardt solver and the one-step linearised (difference)
reconstruction. Used as a baseline and as the initial guess ``x0`` of the networks.

Objective (per sample): ``0.5 ||A(x) - y||^2 + lam P(x - x_ref)`` with P a prior of
:func:`~invtools.classical.regularization.make_prior`: ``0.5 d^T R d`` (``laplacian``,
``tikhonov``) or a smoothed total variation (``tv``); ``lam`` is chosen on the first
linearisation (discrepancy principle with the known noise norm, else L-curve) unless given.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import torch

from invtools.classical.fixed_step import FixedJacobianStep
from invtools.classical.fixed_step import kept_values as _kept
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


_FIXED_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fixed_step(op: Operator, x_ref: Tensor, R, cfg: ClassicalConfig) -> FixedJacobianStep:
    """The :class:`FixedJacobianStep` of ``op`` at one reference x_ref (*in_shape) with
    ``cfg``'s prior and weight, kept per operator (a weak reference) so that repeated calls, a
    data set's blocks or a reconstruction's files, reuse the Jacobian and the masks' factors.
    On the host for CPU tensors, else on x_ref's device."""
    key = (x_ref.device, x_ref.dtype, x_ref.cpu().numpy().tobytes(), cfg.prior, cfg.lam,
           cfg.tv_smoothing)
    try:
        steps = _FIXED_STEPS.setdefault(op, {})
    except TypeError:  # an unhashable operator: no reuse
        steps = {}
    if key not in steps:
        if len(steps) >= 4:
            steps.pop(next(iter(steps)))
        J = op.jacobian(x_ref[None])[0].reshape(-1, R.shape[0])
        device = None if x_ref.device.type == "cpu" else x_ref.device
        steps[key] = FixedJacobianStep(J, R, cfg.lam, cache_size=16, device=device)
    return steps[key]


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
        step = fixed_step(op, x_ref[0], R, cfg)
        r = dy.detach().double().reshape(dy.shape[0], -1)
        if step.device is None:
            dx = torch.as_tensor(step.solve(_np(r)), dtype=x_ref.dtype)
        else:
            dx = step.solve(r)
        return (dx.reshape(x_ref.shape).to(x_ref.device),
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
