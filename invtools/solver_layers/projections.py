"""Closed-form projections as LPGD layers, and layers for reconstructors to embed.

A Euclidean projection is the QP ``argmin_x 1/2 ||x||^2 - v^T x`` over a convex set, so its
LPGD backward pass is one more projection: ``x_tau = proj(v - tau g)`` and
``dv = (x* - x_tau) / tau`` (right variant; left: ``(proj(v + tau g) - x*) / tau``; centred: the
two re-projections over ``2 tau``), which tends to the implicit gradient as tau -> 0: at first
order in tau for right and left, at second order for centred, where the set is curved.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from invtools.solver_layers.backends import HighsLP
from invtools.solver_layers.layer import VARIANTS, OptLayer
from invtools.solver_layers.problems import InfeasibleProblemError

Tensor = torch.Tensor


def project_box(v: Tensor, lower: float | Tensor, upper: float | Tensor) -> Tensor:
    """Projection onto ``lower <= x <= upper`` (elementwise)."""
    return torch.clamp(v, lower, upper)


def project_bounded_mass(v: Tensor, lower: float, upper: float, mass: Tensor | float,
                         iterations: int = 100) -> Tensor:
    """Projection of rows of v (B, n) onto ``{lower <= x <= upper, sum x = mass}``.

    The solution is ``clip(v - theta, lower, upper)`` with the scalar theta (the multiplier of
    the mass constraint) found by bisection.  Raises :class:`InfeasibleProblemError` naming the
    row when ``n lower > mass`` or ``n upper < mass``.
    """
    B, n = v.shape
    mass = torch.as_tensor(mass, dtype=v.dtype, device=v.device).expand(B)
    bad = (n * lower > mass + 1e-12) | (n * upper < mass - 1e-12)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise InfeasibleProblemError(f"mass {float(mass[i]):.4g} outside [{n * lower:.4g}, "
                                     f"{n * upper:.4g}]", i)
    lo = (v.min(dim=1).values - upper)
    hi = (v.max(dim=1).values - lower)
    for _ in range(iterations):
        theta = 0.5 * (lo + hi)
        too_big = torch.clamp(v - theta[:, None], lower, upper).sum(dim=1) > mass
        lo, hi = torch.where(too_big, theta, lo), torch.where(too_big, hi, theta)
    return torch.clamp(v - 0.5 * (lo + hi)[:, None], lower, upper)


def project_ball(v: Tensor, radius: float = 1.0) -> Tensor:
    """Projection of rows of v (B, n) onto the Euclidean ball ``||x|| <= radius``."""
    norm = v.norm(dim=1, keepdim=True)
    return v * torch.clamp(radius / norm.clamp_min(1e-300), max=1.0)


def project_simplex(v: Tensor, radius: float = 1.0) -> Tensor:
    """Projection of rows onto ``{x >= 0, sum x = radius}`` (sort-based, exact)."""
    u, _ = torch.sort(v, dim=1, descending=True)
    css = torch.cumsum(u, dim=1) - radius
    k = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)
    rho = (u - css / k > 0).to(v.dtype).cumsum(dim=1).argmax(dim=1, keepdim=True)
    theta = css.gather(1, rho) / (rho + 1).to(v.dtype)
    return torch.clamp(v - theta, min=0)


class _ProjectionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, project, tau, variant):  # type: ignore[override]
        x = project(v.detach())
        ctx.save_for_backward(v, x)
        ctx.project, ctx.tau, ctx.variant = project, tau, variant
        return x

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        v, x = ctx.saved_tensors
        tau, project = ctx.tau, ctx.project
        plus = x if ctx.variant == "right" else project(v + tau * g)
        minus = x if ctx.variant == "left" else project(v - tau * g)
        return (plus - minus) / (2 * tau if ctx.variant == "centered" else tau), None, None, None


class ProjectionLayer(nn.Module):
    """``x = proj(v)`` with the LPGD backward pass (one re-projection; two for ``centered``)."""

    def __init__(self, project, tau: float = 1e-3, variant: str = "right"):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.project, self.tau, self.variant = project, tau, variant

    def forward(self, v: Tensor) -> Tensor:
        return _ProjectionFunction.apply(v, self.project, self.tau, self.variant)


class BallProjection(ProjectionLayer):
    """A norm bound: ``||x|| <= radius`` for each row of (B, n) (a curved set)."""

    def __init__(self, radius: float, tau: float = 1e-3, variant: str = "right"):
        if radius <= 0:
            raise InfeasibleProblemError(f"empty ball of radius {radius}")
        super().__init__(lambda v: project_ball(v, radius), tau, variant)


class BoxProjection(ProjectionLayer):
    """Physical bounds, e.g. conductivity in ``[lower, upper]``."""

    def __init__(self, lower: float, upper: float, tau: float = 1e-3, variant: str = "right"):
        if lower > upper:
            raise InfeasibleProblemError(f"empty box [{lower}, {upper}]")
        super().__init__(lambda v: project_box(v, lower, upper), tau, variant)


class BoundedMassProjection(ProjectionLayer):
    """Bounds plus a known total: ``lower <= x <= upper``, ``sum x = mass`` (rows of (B, n))."""

    def __init__(self, lower: float, upper: float, mass: float, tau: float = 1e-3,
                 variant: str = "right"):
        if lower > upper:
            raise InfeasibleProblemError(f"empty box [{lower}, {upper}]")
        super().__init__(lambda v: project_bounded_mass(v, lower, upper, mass), tau, variant)


def labeling_lp_matrices(adjacency: sp.spmatrix, n_labels: int):
    """Constraint matrices of the labelling LP relaxation on a graph (see :class:`LabelingLP`).

    Variables: z (n, K) assignment weights, then t (E, K) with t >= |z_e - z_f| per edge.
    Returns (A, b, G, h, n_edges).
    """
    n, K = adjacency.shape[0], n_labels
    edges = np.array(sp.triu(sp.coo_matrix(adjacency), k=1).nonzero())
    E = edges.shape[1]
    nz, nt = n * K, E * K
    A = sp.hstack([sp.kron(sp.eye(n), np.ones((1, K))), sp.csr_matrix((n, nt))]).tocsr()
    b = np.ones(n)
    diff = (sp.kron(sp.csr_matrix((np.ones(E), (np.arange(E), edges[0])), shape=(E, n)),
                    sp.eye(K)) -
            sp.kron(sp.csr_matrix((np.ones(E), (np.arange(E), edges[1])), shape=(E, n)),
                    sp.eye(K)))
    I_t = sp.eye(nt)
    G = sp.vstack([sp.hstack([diff, -I_t]), sp.hstack([-diff, -I_t]),
                   sp.hstack([-sp.eye(nz), sp.csr_matrix((nz, nt))])]).tocsr()
    h = np.zeros(G.shape[0])
    return A, b, G, h, E


class LabelingLP(nn.Module):
    """Assign each element (or pixel) to one of K known levels: the LP relaxation

        minimize  sum_{e,k} -s_{e,k} z_{e,k} + beta sum_{(e,f) edges} sum_k |z_{e,k} - z_{f,k}|
        subject to z >= 0,  sum_k z_{e,k} = 1

    for scores s (B, n, K).  Its solution is piecewise constant in s (the true derivative is
    zero almost everywhere), the degenerate case where LPGD gives useful gradients.  Returns
    assignments z (B, n, K); ``levels @ z`` gives the labelled image.  ``backward``, ``tau``,
    ``variant`` and ``relative_tau`` as for :class:`OptLayer`.
    """

    def __init__(self, adjacency: sp.spmatrix, n_labels: int, beta: float = 0.1,
                 tau: float = 1.0, backward: str = "lpgd", solver=None, variant: str = "right",
                 relative_tau: bool = False):
        super().__init__()
        A, b, G, h, E = labeling_lp_matrices(adjacency, n_labels)
        self.n, self.K, self.n_edges, self.beta = adjacency.shape[0], n_labels, E, beta
        self._b, self._h = b, h
        self.layer = OptLayer(solver or HighsLP(), A=A, G=G, backward=backward, tau=tau,
                              variant=variant, relative_tau=relative_tau)

    def forward(self, scores: Tensor) -> Tensor:
        B = scores.shape[0]
        coupling = scores.new_full((B, self.n_edges * self.K), self.beta)
        q = torch.cat([-scores.reshape(B, -1), coupling], dim=1)
        b = torch.as_tensor(self._b, dtype=q.dtype).expand(B, -1)
        h = torch.as_tensor(self._h, dtype=q.dtype).expand(B, -1)
        z = self.layer(q, b, h)
        return z[:, : self.n * self.K].reshape(B, self.n, self.K)
