"""Implicit differentiation of a QP/LP's KKT conditions at a solver's solution.

The gradient of a QP's solution is that of the equality-constrained problem on its active set,
so the backward pass is only as exact as the active set it identifies. A solver returns no set:
a simplex method (HiGHS) gives slacks and duals exact to rounding, an interior-point method
(Clarabel) gives both slacks and duals of the order of its tolerance where they should be zero.
No fixed threshold separates the two for every tolerance and scale, so :func:`active_set` reads
the set from complementarity: at an (approximate) KKT point each inequality has a slack or a dual
near zero, and the one nearer to zero, measured on scales that do not depend on how the rows,
the cost or the variables are scaled, says which. Only inequalities within about the square
root of the solver's tolerance of being weakly active (slack and dual both zero, where the
solution is not differentiable) are ambiguous, and either choice is a one-sided derivative.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from invtools.solver_layers.problems import QPBatch, Solution


def row_norms(G: sp.spmatrix) -> np.ndarray:
    """Euclidean norms of G's rows (1 for a zero row)."""
    norms = np.sqrt(np.asarray(sp.csr_matrix(G).multiply(G).sum(axis=1)).ravel())
    return np.where(norms > 0, norms, 1.0)


def active_set(G: sp.spmatrix, h: np.ndarray, q: np.ndarray, x: np.ndarray,
               mu: np.ndarray, norms: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask (m_in,) of the active inequalities ``G x <= h`` at a solution (x, mu).

    Each row's distance to its face, ``(h - G x) / |G_i|`` (in x's units), is set against the
    force of the face on x, ``mu_i |G_i|`` (in the cost's units), each divided by its own scale
    (the largest |x| or distance; the largest |q| or force): the row is active when its force is
    the larger of the two. Scaling a row, the cost or x changes neither; ties (both zero, as at
    a simplex method's degenerate vertex) count as active."""
    norms = row_norms(G) if norms is None else norms
    distance = np.maximum(h - G @ x, 0.0) / norms
    force = np.maximum(mu, 0.0) * norms
    tiny = np.finfo(float).tiny
    x_scale = max(np.abs(x).max(initial=0.0), distance.max(initial=0.0), tiny)
    f_scale = max(np.abs(q).max(initial=0.0), force.max(initial=0.0), tiny)
    return force / f_scale >= distance / x_scale


def implicit_gradients(problem: QPBatch, sol: Solution, g: np.ndarray,
                       g_lam: np.ndarray | None = None,
                       g_mu: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KKT implicit-differentiation gradients (dq, db, dh) for dL/dx (and dL/dlam, dL/dmu).

    With the active rows ``G_a`` (:func:`active_set`, then :func:`_polish`), the solution solves
    ``K [x; lam; mu_a] = [-q; b; h_a]`` with the symmetric ``K = [P A^T G_a^T; A 0 0; G_a 0 0]``,
    so ``v = K^-1 [g; g_lam; g_mu_a]`` gives ``dq = -v_x``, ``db = v_lam``, ``dh_a = v_mu`` and
    ``dh = 0`` on the inactive rows. K is factorised where it is regular and solved in the
    least-squares sense where it is singular, as at the degenerate vertices of an LP."""
    n, m_eq, m_in = problem.n, problem.m_eq, problem.m_in
    P = sp.csr_matrix(problem.P) if problem.P is not None else sp.csr_matrix((n, n))
    A = sp.csr_matrix(problem.A) if m_eq else sp.csr_matrix((0, n))
    G = sp.csr_matrix(problem.G) if m_in else sp.csr_matrix((0, n))
    norms = row_norms(G) if m_in else np.ones(0)
    B = problem.batch_size
    dq, db, dh = np.zeros_like(problem.q), np.zeros((B, m_eq)), np.zeros((B, m_in))
    for i in range(B):
        h = problem.h[i] if m_in else np.zeros(0)
        active = (active_set(G, h, problem.q[i], sol.x[i], sol.mu[i], norms)
                  if m_in else np.zeros(0, dtype=bool))
        b = problem.b[i] if m_eq else np.zeros(0)
        active, K, solve = _polish(P, A, G, problem.q[i], b, h, active, norms,
                                   qp=problem.P is not None)
        r_lam = np.zeros(m_eq) if g_lam is None else g_lam[i]
        r_mu = np.zeros(m_in) if g_mu is None else g_mu[i]
        rhs = np.concatenate([g[i], r_lam, r_mu[active]])
        v = solve(rhs) if solve is not None else None
        if v is None or not _solves(K, v, rhs):
            v = _least_squares(K, rhs)
        dq[i], db[i] = -v[:n], v[n:n + m_eq]
        dh[i, active] = v[n + m_eq:]
    return dq, db, dh


POLISH_ROUNDS = 8


def _kkt(P, A, G, active):
    Ga = G[active]
    return sp.bmat([[P, A.T, Ga.T], [A, None, None], [Ga, None, None]], format="csc")


def _polish(P, A, G, q, b, h, active, norms, qp: bool):
    """The active set, checked and corrected (a primal-dual active-set step, as a solver's
    polishing does): the equality-constrained problem on the set is solved exactly, and rows it
    violates (a positive slack off the set, a negative multiplier on it) are moved over, until
    the set's solution is a KKT point (at most ``POLISH_ROUNDS`` rounds; else the first guess).
    Returns the set, its KKT matrix and a solver for it (None where K is singular)."""
    n, m_eq = P.shape[0], A.shape[0]
    first = None
    for _ in range(POLISH_ROUNDS):
        K = _kkt(P, A, G, active)
        # an LP's KKT matrix is singular unless exactly n constraints are active
        solve = _factor(K) if qp or m_eq + int(active.sum()) == n else None
        if first is None:
            first = (active, K, solve)
        if solve is None:
            return first
        z = solve(np.concatenate([-q, b, h[active]]))
        x, mu_a = z[:n], z[n + m_eq:]
        excess = (G @ x - h) / norms
        x_scale = max(np.abs(x).max(initial=0.0), np.abs(excess).max(initial=0.0), 1e-300)
        force = mu_a * norms[active]
        f_scale = max(np.abs(q).max(initial=0.0), np.abs(force).max(initial=0.0), 1e-300)
        enter = ~active & (excess > ROUNDING * x_scale)
        leave = np.zeros_like(active)
        leave[np.flatnonzero(active)[force < -ROUNDING * f_scale]] = True
        if not (enter.any() or leave.any()):
            return active, K, solve
        active = (active | enter) & ~leave
    return first


ROUNDING = 1e-9  # relative residual of an exact (factorised) solve, far below any solver's tolerance


def _factor(K: sp.csc_matrix):
    """A solver ``rhs -> K^-1 rhs`` from a sparse LU of K, or None where K is (numerically)
    singular."""
    try:
        lu = spla.splu(K)
    except RuntimeError:  # exactly singular
        return None
    pivots = np.abs(lu.U.diagonal())
    if pivots.size and pivots.min() <= 1e-12 * max(pivots.max(), 1.0):
        return None
    return lu.solve


def _solves(K, v, rhs) -> bool:
    return bool(np.all(np.isfinite(v))
                and np.linalg.norm(K @ v - rhs) <= 1e-8 * (1 + np.linalg.norm(rhs)))


def _least_squares(K: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray:
    """The least-squares solution of ``K v = rhs`` of least norm, from the normal equations
    regularised by 1e-12 of K's scale (K singular)."""
    KtK = (K.T @ K).tocsc()
    eps = 1e-12 * max(abs(KtK).max(), 1.0)
    return spla.splu((KtK + eps * sp.eye(K.shape[1])).tocsc()).solve(K.T @ rhs)
