import pytest
import torch
from problems import problem

from invtools.nets import DIRECTIONS, LPD, LPGD, element_adjacency
from invtools.operators import Operator


def make(net: str, direction: str, op, adjacency, **kw):
    if net == "lpgd":
        return LPGD(op.in_shape, steps=3, direction=direction, adjacency=adjacency, **kw)
    return LPD(op.in_shape, op.out_shape, steps=3, direction=direction, adjacency=adjacency, **kw)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("net", ["lpgd", "lpd"])
def test_contract_and_every_parameter_gets_a_gradient(any_problem, net, direction):
    name, op, x, y, x0, adjacency = any_problem
    torch.manual_seed(0)
    model = make(net, direction, op, adjacency)
    out = model(y, op, x0)
    assert out.shape == x0.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    ((out - x) ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not missing, f"{name}/{net}/{direction}: no gradient for {missing}"


@pytest.mark.parametrize("direction", ["rma", "conv_rma", "momentum"])
@pytest.mark.parametrize("net", ["lpgd", "lpd"])
def test_batch_elements_do_not_interact(net, direction):
    op, x, y, x0, adjacency = problem("blur1d")
    torch.manual_seed(1)
    model = make(net, direction, op, adjacency)
    with torch.no_grad():
        full = model(y, op, x0)
        for b in range(x.shape[0]):
            torch.testing.assert_close(model(y[b:b + 1], op, x0[b:b + 1]), full[b:b + 1],
                                       rtol=1e-5, atol=1e-6)


class CountingOperator(Operator):
    """Wraps an operator and counts backward passes through its physics."""

    def __init__(self, op):
        self.op, self.in_shape, self.out_shape = op, op.in_shape, op.out_shape
        self.has_hvp = op.has_hvp
        self.hvp_calls = 0

    def _forward(self, x):
        return self.op._forward(x)

    def _jvp(self, x, s, v):
        return self.op._jvp(x, s, v)

    def _vjp(self, x, s, w):
        return self.op._vjp(x, s, w)

    def _hvp(self, x, s, w, u):
        self.hvp_calls += 1
        return self.op._hvp(x, s, w, u)


@pytest.mark.parametrize("detach", [False, True])
def test_detach_physics_controls_second_order_terms(detach):
    op, x, y, x0, _ = problem("blur1d")
    counting = CountingOperator(op)
    torch.manual_seed(0)
    model = LPGD(op.in_shape, steps=3, detach_physics=detach)
    ((model(y, counting, x0 + 0.1) - x) ** 2).mean().backward()
    assert (counting.hvp_calls == 0) == detach
    assert all(p.grad is not None for p in model.parameters())


def test_activation_checkpointing_gives_identical_gradients():
    op, x, y, x0, _ = problem("blur1d")
    grads = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        model = LPGD(op.in_shape, steps=4, direction="rma", checkpointing=ckpt)
        ((model(y, op, x0) - x) ** 2).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_shared_weights_use_one_block():
    op, *_ = problem("blur1d")
    shared = LPGD(op.in_shape, steps=10, shared_weights=True)
    per_step = LPGD(op.in_shape, steps=10)
    assert len(shared.blocks) == 1 and len(per_step.blocks) == 10


def test_element_adjacency_of_a_mesh():
    op, *_ = problem("eit_mesh")
    A = element_adjacency(op.outer.mesh.t)  # op = cem o exp
    pattern = (A > 0).astype(int)
    assert (pattern != pattern.T).nnz == 0  # symmetric neighbour relation
    degree = pattern.sum(axis=1).A.ravel()
    assert set(degree) <= {1, 2, 3} and (degree == 3).any()
    torch.testing.assert_close(torch.as_tensor(A.sum(axis=1).A.ravel()),
                               torch.ones(A.shape[0], dtype=torch.float64))


def test_unknown_direction_is_rejected():
    with pytest.raises(ValueError, match="unknown direction"):
        LPGD((53,), direction="adam")


@pytest.mark.parametrize("net", ["lpgd", "lpd"])
def test_residual_rma_starts_as_the_plain_gradient_and_learns_a_correction(net):
    op, x, y, x0, adjacency = problem("blur1d")
    torch.manual_seed(0)
    plain = make(net, "none", op, adjacency)
    torch.manual_seed(0)
    rma = make(net, "rma", op, adjacency, direction_kwargs={"residual": True, "hidden": 16})
    out = rma(y, op, x0)
    torch.testing.assert_close(out, plain(y, op, x0), rtol=0, atol=0)
    ((out - x) ** 2).mean().backward()
    assert rma.direction.fc.weight.grad.abs().sum() > 0  # the read-out moves away from zero
    torch.optim.SGD(rma.parameters(), lr=1e-2).step()
    assert not torch.equal(rma(y, op, x0), plain(y, op, x0))


@pytest.mark.parametrize("net", ["lpgd", "lpd"])
def test_rma_with_gradient_feeds_both_channels(any_problem, net):
    """``with_gradient``: d_k = [g_k, m_k]; the block sees both and all parameters learn."""
    name, op, x, y, x0, adjacency = any_problem
    torch.manual_seed(0)
    model = make(net, "rma", op, adjacency, direction_kwargs={"with_gradient": True, "hidden": 8})
    first = (model.blocks if net == "lpgd" else model.primal)[0].layers[0]
    in_ch = first.in_channels if hasattr(first, "in_channels") else first.weight.shape[1] // 2
    assert in_ch == (1 if net == "lpgd" else model.n_primal) + 2
    g = torch.randn(2, *op.in_shape)
    d, _ = model.direction(g, None)
    assert d.shape == (2, 2, *op.in_shape) and torch.equal(d[:, 0], g)
    out = model(y, op, x0)
    ((out - x) ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"{name}/{net}: no gradient for {missing}"


def test_rma_residual_and_with_gradient_are_exclusive():
    with pytest.raises(ValueError, match="one of residual and with_gradient"):
        LPGD((53,), direction="rma", direction_kwargs={"residual": True, "with_gradient": True})
