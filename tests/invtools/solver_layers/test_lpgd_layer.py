import numpy as np
import pytest
import torch
from qp_problems import active_qp, lp

from invtools.solver_layers import (
    ClarabelQP,
    HighsLP,
    InfeasibleProblemError,
    OptLayer,
    QPBatch,
    UnboundedProblemError,
)


def grads(layer, q, b, h, g):
    ts = [torch.tensor(a, requires_grad=True) for a in (q, b, h)]
    (layer(*ts) * torch.as_tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("variant", ["right", "left", "centered"])
def test_qp_lpgd_equals_implicit_gradient_while_the_active_set_holds(variant):
    """A QP's solution is piecewise affine in (q, b, h): while tau is too small to change the
    active set, every LPGD variant is exact (to the solver's tolerance), so this problem cannot
    show a convergence order (test_gradient_order.py does, on a curved set)."""
    P, A, G, q, b, h = active_qp()
    assert np.sum(ClarabelQP()(QPBatch(q, P, A, b, G, h)).mu > 1e-6) == 2
    g = np.random.default_rng(1).standard_normal(q.shape)
    exact = grads(OptLayer(ClarabelQP(), P=P, A=A, G=G, backward="implicit"), q, b, h, g)
    for tau in (1e-2, 1e-3):
        approx = grads(OptLayer(ClarabelQP(), P=P, A=A, G=G, tau=tau, variant=variant), q, b, h, g)
        error = max(np.abs(a - e).max() for a, e in zip(approx, exact, strict=True))
        assert error < 1e-6, (tau, error)


def test_lp_implicit_gradient_is_zero_but_lpgd_is_not():
    G, h, q = lp()
    g = np.random.default_rng(5).standard_normal(q.shape)
    qt = torch.tensor(q, requires_grad=True)
    (OptLayer(HighsLP(), G=G, backward="implicit")(qt, None, torch.tensor(h))
     * torch.as_tensor(g)).sum().backward()
    dq_impl = qt.grad.numpy()
    qt2 = torch.tensor(q, requires_grad=True)
    # tau comparable to the cost gaps, so the perturbed problem moves to another vertex
    (OptLayer(HighsLP(), G=G, tau=10.0)(qt2, None, torch.tensor(h))
     * torch.as_tensor(g)).sum().backward()
    dq_lpgd = qt2.grad.numpy()
    assert np.abs(dq_impl).max() < 1e-8
    assert np.all(np.abs(dq_lpgd).sum(axis=1) > 1e-3)


def test_lpgd_gradient_is_the_gradient_of_the_lagrangian_smoothed_loss():
    """For L(x) = <g, x>, LPGD's dq is the gradient of
    phi(q) = (f*(q + tau g) - f*(q)) / tau with f*(q) = min_x <q, x> (Danskin): a descent
    direction of that Lagrangian-smoothed loss."""
    G, h, q = lp(seed=2, B=1)
    g = np.random.default_rng(7).standard_normal(q.shape)
    tau = 0.5
    solver = HighsLP()

    def phi(qq):
        f = [float((qq + s * g)[0] @ solver(QPBatch(qq + s * g, G=G, h=h)).x[0])
             for s in (tau, 0)]
        return (f[0] - f[1]) / tau

    qt = torch.tensor(q, requires_grad=True)
    (OptLayer(solver, G=G, tau=tau)(qt, None, torch.tensor(h)) * torch.as_tensor(g)).sum() \
        .backward()
    d = qt.grad.numpy()
    assert np.abs(d).sum() > 0
    eps = 1e-3  # phi is piecewise linear: locally, a step -eps d lowers it by eps |d|^2
    assert phi(q) - phi(q - eps * d) == pytest.approx(eps * (d**2).sum(), rel=1e-6)


def test_linear_cost_lpgd_equals_dbb_exactly():
    G, h, q = lp(seed=4)
    g = np.random.default_rng(1).standard_normal(q.shape)
    out = []
    for backward in ("lpgd", "dbb"):
        qt = torch.tensor(q, requires_grad=True)
        (OptLayer(HighsLP(), G=G, backward=backward, tau=0.7)(qt, None, torch.tensor(h))
         * torch.as_tensor(g)).sum().backward()
        out.append(qt.grad.numpy())
    np.testing.assert_array_equal(out[0], out[1])


def test_batch_equals_per_element():
    P, A, G, q, b, h = active_qp(seed=1, B=3)
    layer = OptLayer(ClarabelQP(), P=P, A=A, G=G, tau=1e-3)
    g = np.random.default_rng(0).standard_normal(q.shape)
    full = grads(layer, q, b, h, g)
    for i in range(3):
        one = grads(layer, q[i:i + 1], b[i:i + 1], h[i:i + 1], g[i:i + 1])
        for a, f in zip(one, full, strict=True):
            np.testing.assert_allclose(a[0], f[i], atol=1e-8)


def test_infeasible_and_unbounded_errors_name_the_batch_element():
    G, h, q = lp(B=3)
    h = h.copy()
    h[1, 0], h[1, 5] = -1.0, -1.0  # x_0 <= -1 and -x_0 <= -1: empty
    with pytest.raises(InfeasibleProblemError, match="batch element 1"):
        OptLayer(HighsLP(), G=G)(torch.tensor(q), None, torch.tensor(h))
    with pytest.raises(UnboundedProblemError, match="batch element 0"):
        OptLayer(HighsLP(), G=G[:1], tau=1.0)(torch.tensor(q), None, torch.tensor(h[:, :1]))
    with pytest.raises(InfeasibleProblemError, match="batch element 2"):
        P, A, Gq, qq, b, hq = active_qp(B=3)
        b = b.copy()
        A2 = np.vstack([A, A[:1]])
        b2 = np.hstack([b, b[:, :1]])
        b2[2, 2] += 1.0  # contradictory duplicate equality in element 2
        OptLayer(ClarabelQP(), P=P, A=A2, G=Gq)(torch.tensor(qq), torch.tensor(b2),
                                                 torch.tensor(hq))


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        OptLayer(HighsLP(), variant="middle")
    with pytest.raises(ValueError, match="NaN"):
        QPBatch(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="LPs only"):
        HighsLP()(QPBatch(np.ones((1, 2)), P=np.eye(2)))


@pytest.mark.parametrize("backward", ["lpgd", "implicit"])
def test_losses_on_duals(backward):
    """A loss on lam and mu: LPGD (perturbing b and h by -tau dL/dlam, -tau dL/dmu) converges
    to the implicit gradient, which matches central finite differences of the duals."""
    P, A, G, q, b, h = active_qp(seed=5)
    rng = np.random.default_rng(3)
    w_lam, w_mu = rng.standard_normal(b.shape), rng.standard_normal(h.shape)
    kw = dict(tau=1e-4, variant="centered") if backward == "lpgd" else {}
    layer = OptLayer(ClarabelQP(), P=P, A=A, G=G, backward=backward, return_duals=True, **kw)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, b, h)]
    _, lam, mu = layer(*ts)
    ((lam * torch.as_tensor(w_lam)).sum() + (mu * torch.as_tensor(w_mu)).sum()).backward()

    def dual_loss(qq, bb, hh):
        sol = ClarabelQP()(QPBatch(qq, P, A, bb, G, hh))
        return float((sol.lam * w_lam).sum() + (sol.mu * w_mu).sum())

    eps = 1e-5
    for k, t in enumerate(ts):
        d = rng.standard_normal(t.shape)
        args_p = [a + eps * d if j == k else a for j, a in enumerate((q, b, h))]
        args_m = [a - eps * d if j == k else a for j, a in enumerate((q, b, h))]
        fd = (dual_loss(*args_p) - dual_loss(*args_m)) / (2 * eps)
        assert float((t.grad.numpy() * d).sum()) == pytest.approx(fd, rel=1e-4, abs=1e-6)


def test_relative_tau_makes_the_step_independent_of_the_loss_scale():
    """With relative_tau the perturbation is tau / max|g_i| times g_i for each element: scaling
    the loss scales the LPGD gradient exactly, and each row equals the absolute-tau gradient at
    tau / max|g_i|."""
    G, h, q = lp(seed=6, B=3)
    g = np.random.default_rng(8).standard_normal(q.shape)

    def dq(scale, tau=2.0, relative=True, rows=slice(None)):
        qt = torch.tensor(q[rows], requires_grad=True)
        layer = OptLayer(HighsLP(), G=G, tau=tau, relative_tau=relative)
        (layer(qt, None, torch.tensor(h[rows])) * torch.as_tensor(scale * g[rows])).sum().backward()
        return qt.grad.numpy()

    np.testing.assert_allclose(dq(1000.0), 1000.0 * dq(1.0), rtol=1e-12)
    for i in range(3):
        absolute = dq(1.0, tau=2.0 / np.abs(g[i]).max(), relative=False, rows=slice(i, i + 1))
        np.testing.assert_allclose(dq(1.0)[i], absolute[0], rtol=1e-12)
    assert np.abs(dq(1.0)).max() > 0
