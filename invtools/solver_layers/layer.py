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
- ``implicit``  differentiation of the KKT conditions (OptNet-style), for comparison.
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
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from torch import nn

from invtools.deprecation import renamed_function
from invtools.solver_layers.problems import QPBatch, Solution

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


def implicit_gradients(problem: QPBatch, sol: Solution, g: np.ndarray,
                       g_lam: np.ndarray | None = None,
                       g_mu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KKT implicit-differentiation gradients (dq, db, dh) for dL/dx (and dL/dlam, dL/dmu).

    Solves the transposed KKT system ``[P A^T G^T D(mu); A 0 0; G 0 D(s)] v = [g; g_lam; g_mu]``
    (s the slacks) sparsely: the inactive inequalities (s > 0) decouple and are solved for last;
    the rest is factorised where it is regular and solved in the least-squares sense where it
    is singular, as at the degenerate vertices of an LP (regularised normal equations)."""
    n, m_eq, m_in = problem.n, problem.m_eq, problem.m_in
    P = sp.csr_matrix(problem.P) if problem.P is not None else sp.csr_matrix((n, n))
    A = sp.csr_matrix(problem.A) if m_eq else sp.csr_matrix((0, n))
    G = sp.csr_matrix(problem.G) if m_in else sp.csr_matrix((0, n))
    B = problem.batch_size
    dq, db, dh = np.zeros_like(problem.q), np.zeros((B, m_eq)), np.zeros((B, m_in))
    for i in range(B):
        mu, slack = sol.mu[i], (G @ sol.x[i] - problem.h[i]) if m_in else np.zeros(0)
        r_lam = np.zeros(m_eq) if g_lam is None else g_lam[i]
        r_mu = np.zeros(m_in) if g_mu is None else g_mu[i]
        active = slack > -ACTIVE_SLACK
        Ga = G[active]
        K = sp.bmat([[P, A.T, Ga.T @ sp.diags(mu[active])],
                     [A, None, None], [Ga, None, None]], format="csc")
        # an LP's KKT matrix is singular unless exactly n constraints are active (degenerate vertex)
        regular = problem.P is not None or m_eq + int(active.sum()) == n
        v = _least_squares(K, np.concatenate([g[i], r_lam, r_mu[active]]), try_lu=regular)
        vx, vl = v[:n], v[n:n + m_eq]
        vm = np.zeros(m_in)
        vm[active] = v[n + m_eq:]
        vm[~active] = (r_mu[~active] - G[~active] @ vx) / slack[~active]
        dq[i], db[i], dh[i] = -vx, vl, mu * vm
    return dq, db, dh


ACTIVE_SLACK = 1e-9  # an inequality whose slack is below this is active


def _least_squares(K: sp.csc_matrix, rhs: np.ndarray, try_lu: bool = True) -> np.ndarray:
    """``K v = rhs``: a sparse LU solve, or where K is singular the least-squares solution of
    least norm, from the normal equations regularised by 1e-12 of K's scale."""
    try:
        if not try_lu:
            raise RuntimeError("known to be singular")
        lu = spla.splu(K)
        pivots = np.abs(lu.U.diagonal())
        if pivots.min() > 1e-12 * max(pivots.max(), 1.0):
            v = lu.solve(rhs)
            if np.all(np.isfinite(v)) and np.linalg.norm(K @ v - rhs) <= 1e-8 * (1 + np.linalg.norm(rhs)):
                return v
    except RuntimeError:  # exactly singular
        pass
    KtK = (K.T @ K).tocsc()
    eps = 1e-12 * max(abs(KtK).max(), 1.0)
    return spla.splu((KtK + eps * sp.eye(K.shape[1])).tocsc()).solve(K.T @ rhs)


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
