import json

import numpy as np
import pytest
import torch

from forward_models.blur import QuadraticWindowBlur
from invtools import check_operator


def reference(x: np.ndarray, op: QuadraticWindowBlur) -> np.ndarray:
    """Loop implementation of the paper's formula, windows centred at s = 4, 8, ..., 48."""
    out = []
    for s in range(op.window // 2, op.n - op.window // 2, op.stride):
        w = x[s - op.window // 2: s + op.window // 2 + 1]
        out.append(op.a * w @ op.W1 @ w + op.W2 @ w)
    return np.array(out)


def test_paper_geometry_and_weights():
    op = QuadraticWindowBlur()
    assert op.in_shape == (53,) and op.out_shape == (12,)
    assert np.allclose(np.tril(op.W1, -1), 0) and (op.W1 >= 0).all() and (op.W2 >= 0).all()
    assert op.W1.sum() == pytest.approx(1) and op.W2.sum() == pytest.approx(1)


@pytest.mark.parametrize("a", [0.0, 0.5, 2.0, 4.0])
def test_matches_loop_reference_and_passes_check(a):
    op = QuadraticWindowBlur(a=a, seed=5)
    x = torch.randn(4, 53, dtype=torch.float64)
    y = op(x)
    for b in range(4):
        np.testing.assert_allclose(y[b].numpy(), reference(x[b].numpy(), op), rtol=1e-12)
    report = check_operator(op, x)
    assert report.fd_rel_error < 1e-6 and report.adjoint_rel_error < 1e-6


def test_a_zero_is_the_linear_model():
    op = QuadraticWindowBlur(a=0.0)
    x = torch.randn(3, 53, dtype=torch.float64)
    M = op.jacobian(torch.zeros(1, 53, dtype=torch.float64))[0]
    torch.testing.assert_close(op(x), x @ M.T)
    torch.testing.assert_close(op.jacobian(x), M.expand(3, -1, -1))


def test_exact_jacobian_formula():
    op = QuadraticWindowBlur(a=1.3, seed=2)
    x = torch.randn(2, 53, dtype=torch.float64)
    J = op.jacobian(x)
    w3 = x[1, 12:21].numpy()
    np.testing.assert_allclose(J[1, 3, 12:21].numpy(), 1.3 * (op.W1 + op.W1.T) @ w3 + op.W2)
    assert torch.count_nonzero(J[1, 3, :12]) == 0 and torch.count_nonzero(J[1, 3, 21:]) == 0
    # generic (VJP-built) Jacobian of the base class agrees with the override
    torch.testing.assert_close(J, super(QuadraticWindowBlur, op).jacobian(x))


def test_batch_equals_per_sample_and_float32(device):
    op = QuadraticWindowBlur(a=2.0)
    x = torch.randn(5, 53, dtype=torch.float64, device=device)
    y = op(x)
    for b in range(5):
        torch.testing.assert_close(y[b:b + 1], op(x[b:b + 1]))
    y32 = op(x.float())
    assert y32.dtype == torch.float32 and y32.device == x.device
    torch.testing.assert_close(y32.double(), y, rtol=1e-5, atol=1e-6)
    g32 = op.A_vjp(x.float(), torch.ones(5, 12, device=device))
    torch.testing.assert_close(g32.double(), op.A_vjp(x, torch.ones(5, 12, dtype=torch.float64,
                                                                   device=device)),
                               rtol=1e-5, atol=1e-6)


def test_seeds_reproduce_and_differ():
    a, b, c = QuadraticWindowBlur(seed=7), QuadraticWindowBlur(seed=7), QuadraticWindowBlur(seed=8)
    np.testing.assert_array_equal(a.W1, b.W1)
    np.testing.assert_array_equal(a.W2, b.W2)
    assert not np.allclose(a.W1, c.W1)


def test_config_is_json_serialisable():
    op = QuadraticWindowBlur(a=0.25, seed=4)
    op2 = QuadraticWindowBlur.from_config(json.loads(json.dumps(op.config())))
    x = torch.randn(2, 53, dtype=torch.float64)
    torch.testing.assert_close(op(x), op2(x), rtol=0, atol=0)


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"window": 60}, {"stride": 0}, {"a": -1.0},
                                    {"W1": np.eye(3), "W2": np.ones(9)}])
def test_invalid_configuration(kwargs):
    with pytest.raises(ValueError):
        QuadraticWindowBlur(**kwargs)
