"""Small test problems with known KKT points, shared by the solver-layer tests."""

import numpy as np


def active_qp(seed=0, B=1):
    """A strictly convex QP with 2 equalities and 4 inequalities built from a chosen KKT
    point: inequalities 0 and 1 active with multipliers > 0, 2 and 3 inactive (slack 1)."""
    rng = np.random.default_rng(seed)
    n = 6
    M = rng.standard_normal((n, n))
    P = M @ M.T + 0.5 * np.eye(n)
    A, G = rng.standard_normal((2, n)), rng.standard_normal((4, n))
    x = rng.standard_normal((B, n))
    lam = rng.standard_normal((B, 2))
    mu = np.concatenate([rng.uniform(0.5, 1.5, (B, 2)), np.zeros((B, 2))], axis=1)
    q = -(x @ P + lam @ A + mu @ G)
    b = x @ A.T
    h = x @ G.T + np.array([0.0, 0.0, 1.0, 1.0])
    return P, A, G, q, b, h


def lp(seed=0, B=3, n=5):
    """Bounded LPs: box -1 <= x <= 1 plus a random inequality, random costs."""
    rng = np.random.default_rng(seed)
    G = np.vstack([np.eye(n), -np.eye(n), rng.standard_normal((1, n))])
    h = np.concatenate([np.ones(2 * n), [0.5]])[None].repeat(B, 0)
    return G, h, rng.standard_normal((B, n))


LP_TAU = 0.5  # LPGD step of the LP comparison with diffcp (large enough to change vertices)
