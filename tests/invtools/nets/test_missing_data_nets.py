"""Networks on data with missing values (NaN in y): the masked data-fit inside LPGD equals the
same net on the row-selected operator, LPD stays finite, the mask-aware U-Net depends on the
mask only through its embedding."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from problems import problem

from invtools.nets import LPD, LPGD, build_net, build_net_from_config
from invtools.operators.composition import ComposedOperator, LinearOperator


def _rows(op, keep: np.ndarray):
    rows = np.nonzero(keep)[0]
    select = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, op.n_out))
    return ComposedOperator(LinearOperator(select, op.out_shape, (rows.size,)), op)


@pytest.mark.parametrize("direction", ["none", "rma"])
def test_lpgd_with_nan_equals_lpgd_on_the_kept_rows(direction):
    """J^T M (A(x) - y) = J_M^T (A_M(x) - y_M): the same weights give the same images, and
    the same weight gradients."""
    op, x, y, x0, adjacency = problem("eit_mesh")
    y = y.double()
    keep = np.random.default_rng(0).uniform(size=op.n_out) > 0.3
    torch.manual_seed(0)
    net = LPGD(op.in_shape, steps=3, direction=direction, hidden=8, adjacency=adjacency).double()
    y_nan = torch.where(torch.as_tensor(keep), y, torch.nan)
    a = net(y_nan, op, x0.double())
    b = net(y[:, torch.as_tensor(keep)], _rows(op, keep), x0.double())
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    ga = torch.autograd.grad(a.sum(), list(net.parameters()))
    gb = torch.autograd.grad(b.sum(), list(net.parameters()))
    for u, v in zip(ga, gb, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-8, atol=1e-10)
        assert torch.isfinite(u).all()


def test_lpd_with_nan_is_finite_and_ignores_the_missing_values():
    op, x, y, x0, adjacency = problem("eit_mesh")
    keep = torch.as_tensor(np.random.default_rng(1).uniform(size=op.n_out) > 0.3)
    torch.manual_seed(0)
    net = LPD(op.in_shape, op.out_shape, steps=2, hidden=8, adjacency=adjacency)
    out = net(torch.where(keep, y, torch.nan), op, x0)
    other = net(torch.where(keep, y, torch.nan), op, x0)  # NaN cannot leak: finite and repeatable
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, other)
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_mask_aware_unet():
    torch.manual_seed(0)
    net = build_net_from_config({"arch": "unet", "levels": 1, "hidden": 8, "mask_input": True}, (8, 8),
                                out_shape=(20,)).eval()
    assert net.arch["mask_input"] and net.arch["out_shape"] == [20]
    twin = build_net(net.arch)
    twin.load_state_dict(net.state_dict())
    twin.eval()
    x0, y = torch.randn(2, 8, 8), torch.randn(2, 20)
    y_masked = y.clone()
    y_masked[0, :5] = torch.nan
    out, out_masked = net(y, None, x0), net(y_masked, None, x0)
    torch.testing.assert_close(twin(y_masked, None, x0), out_masked)
    assert torch.isfinite(out_masked).all()
    torch.testing.assert_close(out[1], out_masked[1])  # sample 1 is complete in both
    assert not torch.allclose(out[0], out_masked[0])  # the mask changes sample 0
    # the values themselves never enter: only where they are missing
    torch.testing.assert_close(net(torch.randn(2, 20), None, x0), out)
    # the mask acts only through the embedding: with it zeroed, the mask changes nothing
    with torch.no_grad():
        net.mask_embedding.weight.zero_()
    torch.testing.assert_close(net(y_masked, None, x0), net(y, None, x0))
    with pytest.raises(ValueError, match="out_shape"):
        build_net_from_config({"arch": "unet", "mask_input": True}, (8, 8))
