import pytest
import torch
from problems import problem

from invtools.nets import DIRECTIONS, LPD, LPGD, build_net, element_adjacency
from invtools.nets.lpgd import GRADIENT_BOUND
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


@pytest.mark.parametrize("direction", ["none", "rma"])
def test_lpd_data_fit_source_gives_the_primal_block_the_data_fit_gradient(any_problem, direction):
    """``direction_source="data_fit"``: primal input [f, J^T h_0, d_k] with d_k from the
    data-fit gradient J(f_0)^T (A(f_0) - y); contract, gradients and rebuild from ``arch``."""
    name, op, x, y, x0, adjacency = any_problem
    torch.manual_seed(0)
    model = make("lpd", direction, op, adjacency, direction_source="data_fit",
                 direction_kwargs={"hidden": 8} if direction == "rma" else None)
    seen = []
    model.primal[0].register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    out = model(y, op, x0)
    assert out.shape == x0.shape and torch.isfinite(out).all()
    assert seen[0].shape[1] == model.n_primal + 2
    if direction == "none":  # step 0: the gradient in units of its own rms, step scale 1
        _, g = op.data_fit_gradient(x0, y)
        expected = GRADIENT_BOUND * torch.tanh(g / g.pow(2).flatten(1).mean(1).sqrt().reshape(
            -1, *[1] * (g.dim() - 1)) / GRADIENT_BOUND)
        torch.testing.assert_close(seen[0][:, -1], expected, rtol=1e-5, atol=1e-6)
    ((out - x) ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"{name}/{direction}: no gradient for {missing}"
    rebuilt = build_net(model.arch, adjacency=adjacency)
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(y, op, x0), model(y, op, x0), rtol=0, atol=0)


def test_unknown_lpd_direction_source_is_rejected():
    with pytest.raises(ValueError, match="unknown direction_source 'primal'"):
        LPD((53,), (12,), direction_source="primal")


def test_rma_dropout_acts_in_training_only():
    """Dropout on the LSTM's inputs and read-out: random while training, off in eval mode,
    and the recurrent state is never dropped (p = 1 would otherwise zero it)."""
    torch.manual_seed(0)
    model = LPGD((53,), steps=3, direction="rma", direction_kwargs={"hidden": 8, "dropout": 0.5})
    g = torch.randn(4, 53)
    model.direction.eval()
    d1, s1 = model.direction(g, None)
    d2, _ = model.direction(g, None)
    assert torch.equal(d1, d2)
    model.direction.train()
    a, _ = model.direction(g, None)
    b, _ = model.direction(g, None)
    assert not torch.equal(a, b)
    # eval-mode output equals the module without dropout (same weights)
    plain = LPGD((53,), steps=3, direction="rma", direction_kwargs={"hidden": 8})
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(plain.direction(g, None)[0], d1, rtol=0, atol=0)
    model.direction.dropout.p = 1.0  # inputs and read-out dropped: m = FC bias, state kept
    m, state = model.direction(g, s1)
    torch.testing.assert_close(m[:, 0], model.direction.fc.bias.expand(4, 53))
    assert state[0][1].abs().sum() > 0


def test_one_set_of_defaults_for_python_and_configs():
    from invtools.nets import build_net_from_config, net_defaults

    assert net_defaults("lpgd")["steps"] == 20 and net_defaults("lpd")["steps"] == 10
    assert net_defaults("lpgd")["direction"] == net_defaults("lpd")["direction"] == "none"
    torch.manual_seed(0)
    from_config = build_net_from_config({"arch": "lpgd"}, (53,))
    torch.manual_seed(0)
    from_python = LPGD((53,))
    assert from_config.arch == from_python.arch
    for a, b in zip(from_config.parameters(), from_python.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="n_primal is an LPD option, not an LPGD one"):
        build_net_from_config({"arch": "lpgd", "n_primal": 3}, (53,))
    with pytest.raises(ValueError, match="unknown option 'stpes'"):
        build_net_from_config({"arch": "lpd", "stpes": 3}, (53,), (12,))
