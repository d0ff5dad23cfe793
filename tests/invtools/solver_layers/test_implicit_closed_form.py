"""The implicit (KKT) and LPGD backward passes against closed forms, on interior-point
(Clarabel) and simplex (HiGHS) solutions, at several tolerances and scales.

- QP: min 1/2 x^T diag(p) x + c^T x on a box. x* = clip(-c/p), so for L = <g, x*>
  dL/dc = -g/p where x* is strictly inside the box and 0 where it is clamped.
- LP: min c^T x on -1 <= x <= 1 with sum x = b. x* is a vertex with one fractional coordinate f,
  so dL/dc = 0, dL/db = g_f and dL/dh is g_j - g_f on an upper bound that holds x_j, g_f - g_j on
  a lower bound, 0 on the others.
"""

import numpy as np
import pytest
import torch

from invtools.solver_layers import ClarabelQP, HighsLP, OptLayer
from invtools.solver_layers.implicit import active_set


def box_qp(seed, n=30, B=4, scale=1.0, width=1.0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.5, 1.5, n) * scale
    c = 1.5 * rng.standard_normal((B, n)) * scale * width
    G = np.vstack([np.eye(n), -np.eye(n)])
    h = np.full((B, 2 * n), width)
    return p, c, G, h, rng.standard_normal((B, n))


def box_closed_form(p, c, g, width=1.0):
    inside = np.abs(c / p) < width
    return np.where(inside, -g / p, 0.0)


def grad_c(layer, c, h, g, b=None):
    ct = torch.tensor(c, requires_grad=True)
    ht = torch.tensor(h, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    (layer(ct, bt, ht) * torch.as_tensor(g)).sum().backward()
    return ct.grad.numpy(), None if b is None else bt.grad.numpy(), ht.grad.numpy()


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("tol", [1e-10, 1e-8, 1e-6])
def test_qp_implicit_gradient_is_the_closed_form_on_interior_point_solutions(seed, tol):
    p, c, G, h, g = box_qp(seed)
    dc, _, _ = grad_c(OptLayer(ClarabelQP(tol=tol), P=np.diag(p), G=G, backward="implicit"), c, h, g)
    assert rel(dc, box_closed_form(p, c, g)) < 1e-12


@pytest.mark.parametrize("scale, width, row_scale", [(1e4, 1.0, 1.0), (1e-4, 1.0, 1.0),
                                                      (1.0, 1e-3, 1.0), (1.0, 1e3, 1.0),
                                                      (1.0, 1.0, 1e5), (1.0, 1.0, 1e-5)])
def test_qp_implicit_gradient_does_not_depend_on_the_problem_scale(scale, width, row_scale):
    """A cost 1e4 times larger or smaller, a box 1e3 times narrower or wider, and the box rows
    written 1e5 times larger or smaller: each moves slacks and duals by orders of magnitude."""
    p, c, G, h, g = box_qp(7, scale=scale, width=width)
    G, h = G * row_scale, h * row_scale
    dc, _, _ = grad_c(OptLayer(ClarabelQP(tol=1e-8), P=np.diag(p), G=G, backward="implicit"), c, h, g)
    assert rel(dc, box_closed_form(p, c, g, width)) < 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qp_lpgd_gradient_tends_to_the_closed_form(seed):
    p, c, G, h, g = box_qp(seed)
    layer = OptLayer(ClarabelQP(tol=1e-10), P=np.diag(p), G=G, backward="lpgd", tau=1e-5,
                     variant="centered")
    dc, _, _ = grad_c(layer, c, h, g)
    assert rel(dc, box_closed_form(p, c, g)) < 1e-6


def test_qp_gradient_when_x_sits_exactly_on_a_face():
    """Clamped coordinates with a positive multiplier (x* on the face, pushed into it) give 0;
    coordinates whose unconstrained minimiser is exactly on the face (multiplier 0: not
    differentiable) give one of the two one-sided derivatives, -g/p or 0, never a blend."""
    p, c, G, h, g = box_qp(11)
    c[:, :5] = -p[:5] * 3.0   # strongly clamped at +1
    c[:, 5:10] = p[5:10]      # unconstrained minimiser -1: exactly on the lower face
    c[:, 10:15] = -p[10:15]   # exactly on the upper face
    for tol in (1e-10, 1e-6):
        layer = OptLayer(ClarabelQP(tol=tol), P=np.diag(p), G=G, backward="implicit")
        x = layer(torch.tensor(c), None, torch.tensor(h)).detach().numpy()
        assert np.abs(x[:, :15] - np.sign(-c[:, :15])).max() < 10 * tol ** 0.5
        dc, _, _ = grad_c(layer, c, h, g)
        assert np.abs(dc[:, :5]).max() == 0.0
        np.testing.assert_allclose(dc[:, 15:], box_closed_form(p, c, g)[:, 15:], atol=1e-12)
        weak = dc[:, 5:15]
        one_sided = np.minimum(np.abs(weak), np.abs(weak + g[:, 5:15] / p[5:15]))
        assert one_sided.max() < 1e-12


def budget_lp(seed, n=8, B=3):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((B, n))
    b = rng.uniform(-n + 1, n - 1, (B, 1))
    G = np.vstack([np.eye(n), -np.eye(n)])
    return c, np.ones((1, n)), b, G, np.ones((B, 2 * n)), rng.standard_normal((B, n))


def budget_closed_form(c, b, g):
    B, n = c.shape
    dc, db, dh = np.zeros((B, n)), np.zeros((B, 1)), np.zeros((B, 2 * n))
    for i in range(B):
        order = np.argsort(c[i])
        k = int((b[i, 0] + n) // 2)
        up, f, down = order[:k], order[k], order[k + 1:]
        db[i] = g[i, f]
        dh[i, up] = g[i, up] - g[i, f]
        dh[i, n + down] = g[i, f] - g[i, down]
    return dc, db, dh


LP_SOLVERS = {"highs-simplex": lambda: HighsLP(), "highs-ipm": lambda: HighsLP("highs-ipm"),
              "clarabel-1e-10": lambda: ClarabelQP(tol=1e-10),
              "clarabel-1e-6": lambda: ClarabelQP(tol=1e-6)}


@pytest.mark.parametrize("solver", sorted(LP_SOLVERS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lp_implicit_gradient_is_the_closed_form_on_simplex_and_interior_point_solutions(solver, seed):
    c, A, b, G, h, g = budget_lp(seed)
    layer = OptLayer(LP_SOLVERS[solver](), A=A, G=G, backward="implicit")
    got = grad_c(layer, c, h, g, b)
    for a, e in zip(got, budget_closed_form(c, b, g), strict=True):
        np.testing.assert_allclose(a, e, atol=1e-10)


@pytest.mark.parametrize("solver", ["highs-simplex", "clarabel-1e-10"])
def test_lp_lpgd_gradient_tends_to_the_closed_form(solver):
    c, A, b, G, h, g = budget_lp(3)
    layer = OptLayer(LP_SOLVERS[solver](), A=A, G=G, backward="lpgd", tau=1e-4, variant="centered")
    got = grad_c(layer, c, h, g, b)
    for a, e in zip(got, budget_closed_form(c, b, g), strict=True):
        assert np.abs(a - e).max() < 1e-6 * max(np.abs(e).max(), 1.0)


def test_active_set_reads_complementarity_not_a_threshold():
    """Slacks and duals of an interior-point solution at tolerance 1e-4: a fixed slack threshold
    (1e-9) calls every row inactive; complementarity tells the two apart, and rescaling a row
    (slack x 1e6, dual / 1e6) changes nothing."""
    G = np.vstack([np.eye(3), -np.eye(3)])
    x = np.array([1 - 1e-5, 0.2, -1 + 1e-5])
    mu = np.array([0.7, 1e-5, 1e-5, 1e-5, 1e-5, 0.3])
    h = np.ones(6)
    q = np.array([0.7, 0.0, -0.3])
    expected = np.array([True, False, False, False, False, True])
    np.testing.assert_array_equal(active_set(G, h, q, x, mu), expected)
    D = np.diag([1e6, 1, 1, 1, 1, 1e-6])
    np.testing.assert_array_equal(active_set(D @ G, D @ h, q, x, np.linalg.solve(D, mu)), expected)


def test_polishing_corrects_a_wrong_active_set_guess():
    """A solution whose slacks and duals point the wrong way on some rows (a sloppy solver):
    the set's own equality-constrained solution violates them, and the polishing step moves them
    over, so the gradient is still the closed form."""
    from invtools.solver_layers import QPBatch, Solution
    from invtools.solver_layers.implicit import implicit_gradients

    p, c, G, h, g = box_qp(5, B=2)
    problem = QPBatch(c, np.diag(p), None, None, G, h)
    sol = ClarabelQP()(problem)
    x, mu = sol.x.copy(), sol.mu.copy()
    inside = np.flatnonzero(np.abs(c[0] / p) < 1)[:3]
    clamped = np.flatnonzero(c[0] / p < -1)[:3]     # held by the upper face, row j
    x[0, inside] = 1.0                              # claims to sit on the upper face...
    mu[0, inside] = 1.0                             # ...pushed into it
    x[0, clamped] = 0.5                             # claims to be free
    mu[0, clamped] = 0.0
    assert inside.size and clamped.size
    assert active_set(G, h[0], c[0], x[0], mu[0])[inside].all()
    dq, _, _ = implicit_gradients(problem, Solution(x, sol.lam, mu), g)
    np.testing.assert_allclose(dq, box_closed_form(p, c, g), atol=1e-12)
