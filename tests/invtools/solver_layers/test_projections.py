import numpy as np
import pytest
import scipy.sparse as sp
import torch

from invtools.solver_layers import (
    BoundedMassProjection,
    BoxProjection,
    ClarabelQP,
    InfeasibleProblemError,
    LabelingLP,
    OptLayer,
    QPBatch,
    project_bounded_mass,
    project_simplex,
)


def qp_projection(v, lower, upper, mass):
    """Reference: the projection as a QP solved by Clarabel, with its KKT implicit gradient."""
    n = v.shape[1]
    G = np.vstack([np.eye(n), -np.eye(n)])
    h = np.concatenate([np.full(n, upper), np.full(n, -lower)])[None].repeat(len(v), 0)
    A, b = np.ones((1, n)), np.full((len(v), 1), mass)
    return OptLayer(ClarabelQP(), P=np.eye(n), A=A, G=G, backward="implicit"), G, h, A, b


def test_bounded_mass_projection_matches_qp_solution_and_gradient():
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 2, (3, 8))
    layer_ref, G, h, A, b = qp_projection(v, 0.0, 1.0, 3.0)
    g = rng.standard_normal(v.shape)
    q_ref = torch.tensor(-v, requires_grad=True)
    x_ref = layer_ref(q_ref, torch.tensor(b), torch.tensor(h))
    (x_ref * torch.as_tensor(g)).sum().backward()
    vt = torch.tensor(v, requires_grad=True)
    x = BoundedMassProjection(0.0, 1.0, 3.0, tau=1e-6)(vt)
    (x * torch.as_tensor(g)).sum().backward()
    np.testing.assert_allclose(x.detach().numpy(), x_ref.detach().numpy(), atol=1e-7)
    np.testing.assert_allclose(x.detach().sum(1).numpy(), 3.0, atol=1e-10)
    # dL/dv = -dL/dq for q = -v
    np.testing.assert_allclose(vt.grad.numpy(), -q_ref.grad.numpy(), atol=1e-5)


def test_box_projection_gradient_masks_active_bounds():
    v = torch.tensor([[-2.0, 0.3, 0.7, 5.0]], dtype=torch.float64, requires_grad=True)
    x = BoxProjection(0.0, 1.0)(v)
    assert x[0].tolist() == pytest.approx([0.0, 0.3, 0.7, 1.0])
    x.sum().backward()
    assert v.grad[0].tolist() == pytest.approx([0.0, 1.0, 1.0, 0.0])


def test_simplex_projection():
    rng = np.random.default_rng(1)
    v = torch.tensor(rng.standard_normal((5, 7)))
    x = project_simplex(v)
    assert torch.all(x >= 0)
    torch.testing.assert_close(x.sum(dim=1), torch.ones(5, dtype=torch.float64))
    # optimality: against the QP solution
    n = 7
    sol = ClarabelQP()(QPBatch(-v.numpy(), np.eye(n), np.ones((1, n)), np.ones((5, 1)),
                               -np.eye(n), np.zeros((5, n))))
    np.testing.assert_allclose(x.numpy(), sol.x, atol=1e-7)


def test_infeasible_mass_names_the_row():
    v = torch.zeros(3, 4)
    with pytest.raises(InfeasibleProblemError, match="batch element 0"):
        project_bounded_mass(v, 0.0, 1.0, 5.0)
    with pytest.raises(InfeasibleProblemError):
        BoxProjection(1.0, 0.0)


def chain(n):
    return sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1])


def test_labeling_lp_assigns_levels_and_lpgd_gives_gradients():
    n, K = 6, 3
    rng = np.random.default_rng(0)
    truth = np.array([0, 0, 1, 1, 2, 2])
    scores = torch.tensor(np.eye(K)[truth] * 2.0 + 0.1 * rng.standard_normal((n, K)))[None]
    scores.requires_grad_(True)
    z = LabelingLP(chain(n), K, beta=0.1, tau=5.0)(scores)
    np.testing.assert_allclose(z.detach().numpy()[0], np.eye(K)[truth], atol=1e-8)
    target = torch.tensor(np.eye(K)[[0, 0, 0, 1, 2, 2]])[None]
    ((z - target) ** 2).sum().backward()
    assert scores.grad.abs().sum() > 0  # LPGD: informative
    # the implicit gradient of the same LP is zero
    s2 = scores.detach().clone().requires_grad_(True)
    z2 = LabelingLP(chain(n), K, beta=0.1, backward="implicit")(s2)
    ((z2 - target) ** 2).sum().backward()
    assert s2.grad.abs().max() < 1e-8


def test_labeling_coupling_smooths_isolated_labels():
    n, K = 5, 2
    scores = torch.tensor([[[1.0, 0], [1.0, 0], [0, 0.3], [1.0, 0], [1.0, 0]]])
    weak = LabelingLP(chain(n), K, beta=0.01)(scores)[0].argmax(1)
    strong = LabelingLP(chain(n), K, beta=1.0)(scores)[0].argmax(1)
    assert weak.tolist() == [0, 0, 1, 0, 0] and strong.tolist() == [0, 0, 0, 0, 0]
