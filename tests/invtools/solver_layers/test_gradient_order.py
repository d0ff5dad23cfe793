"""Honest gradients: LPGD's finite differences converge to the exact derivative at the order
their stencil promises, where the solution map is curved; torch.autograd.gradcheck on every
layer whose map is smooth at the test point."""

import numpy as np
import pytest
import torch
from qp_problems import active_qp

from invtools.solver_layers import (
    BallProjection,
    BoundedMassProjection,
    BoxProjection,
    ClarabelQP,
    OptLayer,
    ProjectionLayer,
    project_simplex,
)

RADIUS = 1.0
TAUS = np.array([4e-2, 2e-2, 1e-2, 5e-3])


def ball_jacobian_t(v: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Exact J(v)^T g of the projection onto the ball, for ||v|| > radius (J is symmetric):
    J = (r / ||v||) (I - u u^T), u = v / ||v||."""
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    u = v / norm
    return RADIUS / norm * (g - u * (u * g).sum(axis=1, keepdims=True))


def observed_order(variant: str) -> float:
    """Slope of log(error) against log(tau) of the LPGD gradient of the ball projection."""
    rng = np.random.default_rng(0)
    v = rng.standard_normal((4, 5)) * 2.0  # outside the ball: the map is smooth and curved
    assert np.all(np.linalg.norm(v, axis=1) > 1.5 * RADIUS)
    g = rng.standard_normal(v.shape)
    exact = ball_jacobian_t(v, g)
    errors = []
    for tau in TAUS:
        vt = torch.tensor(v, requires_grad=True)
        (BallProjection(RADIUS, tau=float(tau), variant=variant)(vt) * torch.as_tensor(g)).sum().backward()
        errors.append(np.abs(vt.grad.numpy() - exact).max())
    return float(np.polyfit(np.log(TAUS), np.log(errors), 1)[0])


@pytest.mark.parametrize("variant, order", [("right", 1), ("left", 1), ("centered", 2)])
def test_lpgd_convergence_order_on_a_curved_set(variant, order):
    slope = observed_order(variant)
    assert order - 0.15 < slope < order + 0.15, f"{variant}: observed order {slope:.3f}"


def test_order_test_detects_swapped_variants():
    """Negative control: had 'centered' been implemented as one-sided (or the names swapped), the
    observed slopes would fall outside the asserted bands."""
    assert not 1.85 < observed_order("right") < 2.15
    assert not 0.85 < observed_order("centered") < 1.15


def test_lpgd_right_and_left_errors_have_opposite_signs():
    """The one-sided errors are +-tau/2 x the second derivative: their mean is the centred one."""
    rng = np.random.default_rng(1)
    v, g = rng.standard_normal((2, 4)) * 2, rng.standard_normal((2, 4))
    grads = {}
    for variant in ("right", "left", "centered"):
        vt = torch.tensor(v, requires_grad=True)
        (BallProjection(RADIUS, tau=1e-2, variant=variant)(vt) * torch.as_tensor(g)).sum().backward()
        grads[variant] = vt.grad.numpy()
    np.testing.assert_allclose(0.5 * (grads["right"] + grads["left"]), grads["centered"], atol=1e-12)
    exact = ball_jacobian_t(v, g)
    assert np.all(np.sign(grads["right"] - exact) == -np.sign(grads["left"] - exact))


def _gradcheck(layer, v):
    return torch.autograd.gradcheck(layer, (v,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_projections_where_smooth():
    rng = np.random.default_rng(2)
    tau = dict(tau=1e-7, variant="centered")
    # box: entries well inside or well outside the bounds (away from the kinks at the bounds)
    v = torch.tensor(rng.choice([-2.0, 0.3, 0.6, 3.0], size=(2, 6)), requires_grad=True)
    assert _gradcheck(BoxProjection(0.0, 1.0, **tau), v)
    # bounded mass: the active set is fixed near v (no entry at a bound)
    v = torch.tensor(rng.uniform(0.2, 0.8, (2, 6)), requires_grad=True)
    assert _gradcheck(BoundedMassProjection(0.0, 1.0, 2.5, **tau), v)
    # ball: outside (curved part) and inside (identity)
    v = torch.tensor(rng.standard_normal((2, 5)) * 3, requires_grad=True)
    assert _gradcheck(BallProjection(RADIUS, **tau), v)
    assert _gradcheck(BallProjection(10.0, **tau), v)
    # simplex: the support is fixed near v
    v = torch.tensor([[0.9, 0.5, -1.0, 0.1], [0.2, 0.3, 0.1, -2.0]], dtype=torch.float64, requires_grad=True)
    assert _gradcheck(ProjectionLayer(project_simplex, **tau), v)


@pytest.mark.parametrize("backward", ["lpgd", "implicit"])
def test_gradcheck_qp_layer(backward):
    """A strictly convex QP whose active set is stable near the point: its solution is affine
    there, and both backward passes pass gradcheck in q, b and h."""
    P, A, G, q, b, h = active_qp(seed=4, B=2)
    kw = dict(tau=1e-6, variant="centered") if backward == "lpgd" else {}
    layer = OptLayer(ClarabelQP(tol=1e-12), P=P, A=A, G=G, backward=backward, **kw)
    args = tuple(torch.tensor(a, requires_grad=True) for a in (q, b, h))
    assert torch.autograd.gradcheck(layer, args, eps=1e-4, atol=1e-5, rtol=1e-4)
