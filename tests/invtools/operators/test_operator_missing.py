"""Operator.data_fit_gradient with missing data: NaN in y means "not measured", so its residual
is 0 and the gradient is J^T of the masked residual; every registered operator shares it."""

import pytest
import torch

from invtools.operators import OperatorInputError, registered_operators

KINDS = sorted(registered_operators())


def _data(op, seed=0, missing=0.3):
    x = op.example_input(2, seed=seed)
    with torch.no_grad():
        y = op(x)
    gen = torch.Generator().manual_seed(seed + 1)
    y = y + 0.1 * torch.randn(y.shape, generator=gen, dtype=y.dtype)
    kept = torch.rand(y.shape, generator=gen, dtype=y.dtype) >= missing
    kept.reshape(2, -1)[:, 0] = True  # every sample keeps a value
    kept.reshape(2, -1)[1, -1] = False  # and misses one
    x_eval = op.example_input(2, seed=seed + 7)  # not where y came from: a nonzero residual
    return x_eval, y, kept


@pytest.mark.parametrize("kind", KINDS)
def test_nan_in_y_gives_the_masked_residual_and_gradient(kind):
    op = registered_operators()[kind].example()
    x, y, kept = _data(op)
    y_nan = torch.where(kept, y, torch.nan)
    residual, grad = op.data_fit_gradient(x, y_nan)
    assert torch.isfinite(residual).all() and torch.isfinite(grad).all()
    assert residual.shape == y.shape and grad.shape == x.shape
    assert bool((residual[~kept] == 0).all())  # exactly 0 where the value is missing
    with torch.no_grad():
        expected_residual = (op(x) - torch.nan_to_num(y_nan)) * kept
    torch.testing.assert_close(residual, expected_residual, rtol=0, atol=1e-10)
    expected_grad = op.A_vjp(x, expected_residual)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-10)
    # the same as complete data whose missing values happen to equal the prediction
    with torch.no_grad():
        y_fill = torch.where(kept, y, op(x))
    r_fill, g_fill = op.data_fit_gradient(x, y_fill)
    torch.testing.assert_close(grad, g_fill, rtol=0, atol=1e-10)
    torch.testing.assert_close(residual, r_fill, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_complete_data_are_unchanged(kind):
    op = registered_operators()[kind].example()
    x, y, _ = _data(op, seed=3)
    residual, grad = op.data_fit_gradient(x, y)
    with torch.no_grad():
        torch.testing.assert_close(residual, op(x) - y, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, op.A_vjp(x, op(x).detach() - y), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_the_masked_gradient_is_differentiable(kind):
    op = registered_operators()[kind].example()
    if not op.has_hvp:
        pytest.skip(f"{kind} has no second derivatives")
    x, y, kept = _data(op, seed=5)
    x = x.clone().requires_grad_(True)
    y_nan = torch.where(kept, y, torch.nan).requires_grad_(True)
    residual, grad = op.data_fit_gradient(x, y_nan)
    loss = grad.pow(2).sum() + residual.pow(2).sum()
    gx, gy = torch.autograd.grad(loss, (x, y_nan))
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all()
    assert bool((gy[~kept] == 0).all())  # a missing value has no influence
    assert gx.abs().sum() > 0
    # on data filled in with the prediction (residual 0 there too) the kept values' derivatives
    # are the same (x's differs: a filled-in value depends on x, a missing one does not)
    with torch.no_grad():
        fill = torch.where(kept, y, op(x))
    y_fill = fill.clone().requires_grad_(True)
    r2, g2 = op.data_fit_gradient(x, y_fill)
    _, gy2 = torch.autograd.grad(g2.pow(2).sum() + r2.pow(2).sum(), (x, y_fill))
    torch.testing.assert_close(gy[kept], gy2[kept], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_a_sample_with_every_value_missing_is_refused(kind):
    op = registered_operators()[kind].example()
    x, y, _ = _data(op, seed=2)
    y = y.clone()
    y[1] = torch.nan
    with pytest.raises(OperatorInputError, match="every value missing"):
        op.data_fit_gradient(x, y)


@pytest.mark.parametrize("kind", KINDS)
def test_inf_is_still_refused(kind):
    op = registered_operators()[kind].example()
    x, y, kept = _data(op, seed=4)
    y = torch.where(kept, y, torch.nan)
    y.reshape(2, -1)[0, 0] = torch.inf
    with pytest.raises(OperatorInputError, match="Inf"):
        op.data_fit_gradient(x, y)
    y.reshape(2, -1)[0, 0] = -torch.inf
    with pytest.raises(OperatorInputError, match="Inf"):
        op.data_fit_gradient(x, y)


@pytest.mark.parametrize("kind", KINDS)
def test_nan_is_still_refused_outside_y(kind):
    op = registered_operators()[kind].example()
    x, y, _ = _data(op, seed=6)
    x_bad = x.clone()
    x_bad.reshape(2, -1)[0, 0] = torch.nan
    with pytest.raises(OperatorInputError, match="NaN or Inf"):
        op.data_fit_gradient(x_bad, y)
    with pytest.raises(OperatorInputError, match="NaN or Inf"):
        op.A(x_bad)
    w = torch.full_like(y, torch.nan)
    with pytest.raises(OperatorInputError, match="NaN or Inf"):
        op.A_vjp(x, w)
