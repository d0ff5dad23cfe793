import numpy as np
import pytest
import torch

from forward_models.blur import QuadraticWindowBlur
from invtools import Operator, OperatorInputError, check_operator, operator_from_config


class PaperBugBlur(QuadraticWindowBlur):
    """The RMA paper code's Jacobian 2a W1 w + W2 (wrong unless W1 is symmetric)."""

    def _vjp(self, x, win, w):
        W1 = torch.as_tensor(self.W1, dtype=x.dtype)
        W2 = torch.as_tensor(self.W2, dtype=x.dtype)
        rows = 2 * self.a * win @ W1.T + W2
        return self._scatter(w[..., None] * rows, x)


class Cube(Operator):
    """Elementwise x**3, with no second derivatives implemented."""

    in_shape = out_shape = (5,)

    def _forward(self, x):
        return x**3, x

    def _jvp(self, x, s, v):
        return 3 * x**2 * v

    def _vjp(self, x, s, w):
        return 3 * x**2 * w


def x64(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_autograd_gradient_equals_vjp():
    op = QuadraticWindowBlur(a=2.0)
    x, w = x64(3, 53), x64(3, 12, seed=1)
    xg = x.clone().requires_grad_(True)
    (op(xg) * w).sum().backward()
    torch.testing.assert_close(xg.grad, op.A_vjp(x, w), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(op.A_vjp(x, w), torch.einsum("bmn,bm->bn", op.jacobian(x), w))


def test_data_fit_gradient_and_its_second_order_derivative():
    op = QuadraticWindowBlur(a=1.5)
    x, y = x64(2, 53), x64(2, 12, seed=1)
    r, g = op.data_fit_gradient(x, y)
    J = op.jacobian(x)
    torch.testing.assert_close(g, torch.einsum("bmn,bm->bn", J, op.A(x) - y))
    # d/dx of <c, J(x)^T (F(x) - y)> by autograd through the bridge vs central differences.
    c = x64(2, 53, seed=2)

    def phi(z):
        return (op.data_fit_gradient(z, y)[1] * c).sum()

    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(phi(xg), xg)
    d, h = x64(2, 53, seed=3), 1e-5
    fd = (phi(x + h * d) - phi(x - h * d)) / (2 * h)
    assert abs(float((grad * d).sum()) - float(fd)) < 1e-7 * max(1.0, abs(float(fd)))


def test_missing_hvp_gives_clear_error_only_for_second_order():
    op = Cube()
    x = x64(2, 5).requires_grad_(True)
    (op(x).sum()).backward()  # first order works
    torch.testing.assert_close(x.grad, 3 * x.detach() ** 2)
    r, g = op.data_fit_gradient(x, torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(NotImplementedError, match="second derivatives"):
        g.sum().backward()
    assert check_operator(op, x64(2, 5), gradcheck=True).passed


@pytest.mark.parametrize("bad", [torch.zeros(3, 52), torch.zeros(53), torch.zeros(2, 53, 1)])
def test_wrong_shape_is_named(bad):
    with pytest.raises(OperatorInputError, match=r"shape \(B, 53\)"):
        QuadraticWindowBlur().A(bad.double())


def test_non_finite_and_integer_inputs_are_rejected():
    x = x64(2, 53)
    x[1, 7] = float("nan")
    with pytest.raises(OperatorInputError, match="NaN"):
        QuadraticWindowBlur().A(x)
    with pytest.raises(OperatorInputError, match="floating-point"):
        QuadraticWindowBlur().A(torch.zeros(2, 53, dtype=torch.int64))


def test_check_operator_catches_the_paper_jacobian_bug():
    op = PaperBugBlur(a=2.0, seed=3)
    report = check_operator(op, x64(2, 53), raise_on_failure=False)
    assert not report.passed
    assert report.adjoint_rel_error > 1e-3
    with pytest.raises(AssertionError, match="check_operator failed"):
        check_operator(op, x64(2, 53))
    # with a = 0 the bug is invisible: the check must pass.
    assert check_operator(PaperBugBlur(a=0.0), x64(2, 53)).passed


def test_config_round_trip_through_registry():
    op = QuadraticWindowBlur(n=41, window=5, stride=3, a=0.7, seed=11)
    op2 = operator_from_config(op.config())
    assert isinstance(op2, QuadraticWindowBlur)
    np.testing.assert_array_equal(op.W1, op2.W1)
    x = x64(2, 41)
    torch.testing.assert_close(op(x), op2(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown operator type"):
        operator_from_config({"type": "NoSuchOperator"})
