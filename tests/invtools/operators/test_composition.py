import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from forward_models.blur import QuadraticWindowBlur
from invtools import check_operator, operator_from_config
from invtools.operators.composition import ComposedOperator, LinearOperator


def test_linear_operator_matches_matrix_and_its_adjoint():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 12))
    op = LinearOperator(M, (3, 4), (6,))
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(op(x), x.reshape(5, 12) @ torch.as_tensor(M).T)
    assert check_operator(op, x).passed


def test_composition_of_two_nonlinear_operators_chain_rule_to_second_order():
    inner = QuadraticWindowBlur(a=1.0, seed=1)                          # 53 -> 12
    outer = QuadraticWindowBlur(n=12, window=3, stride=1, a=2.0, seed=2)  # 12 -> 10
    op = ComposedOperator(outer, inner)
    report = check_operator(op, torch.randn(3, 53, dtype=torch.float64))
    assert report.hvp_rel_error < 1e-6 and report.gradgradcheck
    x = torch.randn(2, 53, dtype=torch.float64)
    torch.testing.assert_close(op(x), outer(inner(x)))
    op2 = operator_from_config(json.loads(json.dumps(op.config())))
    torch.testing.assert_close(op2(x), op(x), rtol=0, atol=0)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="cannot compose"):
        ComposedOperator(QuadraticWindowBlur(), QuadraticWindowBlur())
    with pytest.raises(ValueError, match="does not match"):
        LinearOperator(np.eye(3), (4,), (3,))


def test_log_parametrization_derivatives():
    from forward_models.eit import CEMForward, Electrodes
    from invtools.operators.composition import PointwiseExp, log_parametrized

    assert check_operator(PointwiseExp((4,)), torch.randn(2, 4, dtype=torch.float64)).passed
    cem = CEMForward.on_disk(Electrodes.equally_spaced(8, 0.5, 0.05), 0.3)
    op = log_parametrized(cem)
    s = 0.3 * torch.randn(2, cem.n_in, dtype=torch.float64)
    torch.testing.assert_close(op(s), cem(s.exp()))
    assert check_operator(op, s).passed
    op2 = operator_from_config(json.loads(json.dumps(op.config())))
    torch.testing.assert_close(op2(s), op(s), rtol=0, atol=0)


def test_linear_operator_jacobian_is_its_matrix():
    from invtools.operators import Operator

    rng = np.random.default_rng(1)
    M = sp.random(7, 12, density=0.3, random_state=rng)
    op = LinearOperator(M, (3, 4), (7,))
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    J = op.jacobian(x)
    np.testing.assert_allclose(J.numpy(), np.broadcast_to(M.toarray(), (2, 7, 12)))
    torch.testing.assert_close(J, Operator.jacobian(op, x))  # the generic one, from VJPs
