"""Differentiable optimisation layers: x*(q, b, h) of a batched QP/LP, with the backward pass
chosen independently of the solver back-end (cvxpylayers-style separation):

- ``lpgd``      Lagrangian Proximal Gradient Descent (Paulus, Martius, Musil 2024): re-solve
                the problem with the incoming gradient folded into the cost,
                ``q_tau = q + tau dL/dx``, and take finite differences of the Lagrangian's
                parameter gradients, ``dq = (x_tau - x*) / tau``, ``db = -(lam_tau - lam*) / tau``,
                ``dh = -(mu_tau - mu*) / tau``.  Variants: ``right`` (+tau), ``left`` (-tau),
                ``centered`` (both, divided by 2 tau).  tau -> 0 recovers the implicit gradient
                where it exists; for LPs (zero derivative almost everywhere) it stays
                informative.
- ``implicit``  differentiation of the KKT conditions (OptNet-style) on the active set read
                from complementarity (:mod:`invtools.solver_layers.implicit`).
- ``dbb``       blackbox differentiation (Vlastelica et al. 2020) for the cost only:
                ``dq = (x(q + lambda dL/dx) - x(q)) / lambda``.

``relative_tau=True`` measures tau in units of each batch element's largest incoming gradient
(``tau_i = tau / max|dL/dx_i|``), so that the perturbation moves the largest cost entry by tau
whatever the loss's normalisation or the batch size: the natural scale for an LP inside a net,
whose loss gradients shrink with the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from invtools.solver_layers.implicit import implicit_gradients
from invtools.solver_layers.problems import QPBatch, Solution
from invtools.support.deprecation import renamed_function

Tensor = torch.Tensor
VARIANTS = ("right", "left", "centered")
BACKWARDS = ("lpgd", "implicit", "dbb")


def lagrangian_gradients(solver, problem: QPBatch, sol: Solution, g: np.ndarray,
                   tau: float | np.ndarray,
                   variant: str, g_lam: np.ndarray | None = None,
                   g_mu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPGD parameter gradients (dq, db, dh) for incoming gradients g = dL/dx (B, n) and,
    when the loss uses the duals, g_lam = dL/dlam and g_mu = dL/dmu. ``tau``: a number, or
    one per batch element (B, 1).

    The perturbed saddle point of ``L + tau (<g, x> + <g_lam, lam> + <g_mu, mu>)`` is the
    problem with ``q + tau g``, ``b - tau g_lam`` and ``h - tau g_mu``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")

    def shifted(sign: float) -> Solution:
        return solver(problem.perturbed(
            dq=sign * tau * g, db=None if g_lam is None else -sign * tau * g_lam,
            dh=None if g_mu is None else -sign * tau * g_mu))

    plus = shifted(1.0) if variant in ("right", "centered") else sol
    minus = shifted(-1.0) if variant in ("left", "centered") else sol
    width = 2 * tau if variant == "centered" else tau
    return ((plus.x - minus.x) / width, -(plus.lam - minus.lam) / width,
            -(plus.mu - minus.mu) / width)


class _OptLayerFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, b, h, layer):  # type: ignore[override]
        problem = QPBatch(q.detach().cpu().double().numpy(), layer.P, layer.A,
                          None if b is None else b.detach().cpu().double().numpy(), layer.G,
                          None if h is None else h.detach().cpu().double().numpy())
        sol = layer.solver(problem)
        ctx.layer, ctx.problem, ctx.sol = layer, problem, sol
        ctx.has_b, ctx.has_h = b is not None, h is not None
        ctx.like = q

        def t(a):
            return torch.as_tensor(a, dtype=q.dtype, device=q.device)

        return t(sol.x), t(sol.lam), t(sol.mu)

    @staticmethod
    def backward(ctx, grad_x, grad_lam, grad_mu):  # type: ignore[override]
        layer, problem, sol = ctx.layer, ctx.problem, ctx.sol

        def np_(t):
            return None if t is None or t.numel() == 0 else t.detach().cpu().double().numpy()

        g, g_lam, g_mu = np_(grad_x), np_(grad_lam), np_(grad_mu)
        if g is None:
            g = np.zeros_like(sol.x)
        tau = layer.step(g)
        if layer.backward == "lpgd":
            dq, db, dh = lagrangian_gradients(layer.solver, problem, sol, g, tau, layer.variant,
                                              g_lam, g_mu)
        elif layer.backward == "implicit":
            dq, db, dh = implicit_gradients(problem, sol, g, g_lam, g_mu)
        else:  # dbb: cost only
            dq = (layer.solver(problem.perturbed(dq=tau * g)).x - sol.x) / tau
            db = dh = None

        def t(a):
            return None if a is None else torch.as_tensor(a, dtype=ctx.like.dtype,
                                                          device=ctx.like.device)

        return t(dq), t(db) if ctx.has_b else None, t(dh) if ctx.has_h else None, None


class OptLayer(nn.Module):
    """``x = layer(q, b=None, h=None)``: solutions (B, n) of the batched QP/LP with fixed
    ``P``, ``A``, ``G`` and differentiable ``q`` (B, n), ``b`` (B, m_eq), ``h`` (B, m_in).

    Args:
        solver: an oracle (see :mod:`invtools.solver_layers.problems`), e.g. ``HighsLP()``.
        P, A, G: shared problem matrices (None where absent).
        backward: ``lpgd`` (default), ``implicit`` or ``dbb``.
        tau: LPGD step (or DBB's lambda), in units of the loss gradient.
        variant: LPGD ``right``, ``left`` or ``centered``.
        relative_tau: tau in units of each element's largest incoming gradient entry.
        return_duals: also return the duals (losses on them are differentiated too).
    """

    def __init__(self, solver, P=None, A=None, G=None, backward: str = "lpgd",
                 tau: float = 1.0, variant: str = "right", return_duals: bool = False,
                 relative_tau: bool = False):
        super().__init__()
        if backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.solver, self.P, self.A, self.G = solver, P, A, G
        if return_duals and backward == "dbb":
            raise ValueError("dbb differentiates the primal solution only; use lpgd")
        self.backward, self.tau, self.variant = backward, float(tau), variant
        self.return_duals, self.relative_tau = return_duals, relative_tau

    def step(self, g: np.ndarray) -> float | np.ndarray:
        """tau, or with ``relative_tau`` one per batch element (B, 1): tau / max|g_i|."""
        if not self.relative_tau:
            return self.tau
        scale = np.abs(g).reshape(g.shape[0], -1).max(axis=1, keepdims=True)
        return self.tau / np.where(scale > 0, scale, 1.0)

    def forward(self, q: Tensor, b: Tensor | None = None, h: Tensor | None = None):
        """Primal solutions (B, n); with ``return_duals`` also lam (B, m_eq), mu (B, m_in)."""
        x, lam, mu = _OptLayerFunction.apply(q, b, h, self)
        return (x, lam, mu) if self.return_duals else x

    def extra_repr(self) -> str:
        relative = ", relative_tau=True" if self.relative_tau else ""
        return f"backward={self.backward}, tau={self.tau}, variant={self.variant}{relative}"


def LagrangianLayer(solver, tau: float = 1.0, variant: str = "right", **matrices: Any) -> OptLayer:
    """An :class:`OptLayer` with the Lagrangian Proximal Gradient Descent backward pass
    (``backward="lpgd"``; not to be confused with the unrolled network :class:`invtools.nets.LPGD`)."""
    return OptLayer(solver, backward="lpgd", tau=tau, variant=variant, **matrices)


LPGDLayer = renamed_function(LagrangianLayer, "LPGDLayer")
lpgd_gradients = renamed_function(lagrangian_gradients, "lpgd_gradients")
