"""The masked linearised step (FixedJacobianStep) and Gauss-Newton with NaN in y: both must be
the same as deleting the missing rows from the problem."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from forward_models.blur import QuadraticWindowBlur
from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.classical.gauss_newton import FixedJacobianStep, _kept
from invtools.data.phantoms import random_walk_signals
from invtools.operators import Operator
from invtools.operators.composition import ComposedOperator, LinearOperator

M, N, LAM = 60, 20, 0.3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    J = rng.standard_normal((M, N))
    A = rng.standard_normal((N, N))
    R = A @ A.T / N + 0.1 * np.eye(N)  # symmetric positive definite
    r = rng.standard_normal((6, M))
    return J, R, r


def _reference(J, R, lam, row):
    keep = np.isfinite(row)
    Jk = J[keep]
    return np.linalg.solve(Jk.T @ Jk + lam * R, Jk.T @ row[keep])


def _with_nan(row, keep):
    out = row.copy()
    out[~keep] = np.nan
    return out


def _mask(rng, kept):
    keep = np.zeros(M, dtype=bool)
    keep[rng.choice(M, kept, replace=False)] = True
    return keep


@pytest.mark.parametrize("kept", [59, 45, 31, 30, 20, 3, 1])  # > half: Gram subtraction; <= half: kept rows
def test_a_masked_step_solves_the_row_deleted_normal_equations(problem, kept):
    J, R, r = problem
    rng = np.random.default_rng(kept)
    step = FixedJacobianStep(J, R, LAM)
    for row in r[:3]:
        y = _with_nan(row, _mask(rng, kept))
        got = step.solve(y[None])[0]
        want = _reference(J, R, LAM, y)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * max(1.0, np.abs(want).max()))


def test_both_factor_paths_agree_on_one_mask(problem):
    J, R, r = problem
    keep = _mask(np.random.default_rng(9), 40)
    y = _with_nan(r[0], keep)
    more = FixedJacobianStep(J, R, LAM).solve(y[None])[0]  # 40 > 30: the subtraction path
    Jk = J[keep]
    direct = np.linalg.solve(Jk.T @ Jk + LAM * R, Jk.T @ y[keep])
    np.testing.assert_allclose(more, direct, atol=1e-10)
    # the same rows, with the missing ones appended as NaN, so that fewer than half are kept
    padded = np.vstack([J, np.random.default_rng(1).standard_normal((60, N))])
    y2 = np.concatenate([y, np.full(60, np.nan)])
    fewer = FixedJacobianStep(padded, R, LAM).solve(y2[None])[0]  # 40 of 120: the kept-rows path
    np.testing.assert_allclose(fewer, direct, atol=1e-10)


def test_complete_rows_take_the_plain_solve(problem):
    J, R, r = problem
    step = FixedJacobianStep(J, R, LAM)
    got = step.solve(r)
    H = J.T @ J + LAM * R
    for b, row in enumerate(r):
        np.testing.assert_allclose(got[b], np.linalg.solve(H, J.T @ row), rtol=1e-12, atol=1e-14)
    assert step._factors == {}  # complete data factor nothing


def test_a_sample_step_does_not_depend_on_its_batch(problem):
    J, R, r = problem
    rng = np.random.default_rng(3)
    batch = np.stack([_with_nan(r[0], _mask(rng, 50)), r[1], _with_nan(r[2], _mask(rng, 12)),
                      _with_nan(r[3], _mask(rng, 50))])
    together = FixedJacobianStep(J, R, LAM).solve(batch)
    for b in range(len(batch)):
        alone = FixedJacobianStep(J, R, LAM).solve(batch[b:b + 1])[0]
        np.testing.assert_array_equal(together[b], alone)


def test_one_factor_per_distinct_mask(problem):
    J, R, r = problem
    rng = np.random.default_rng(4)
    a, b, c = _mask(rng, 50), _mask(rng, 10), _mask(rng, 35)
    step = FixedJacobianStep(J, R, LAM)
    rows = [_with_nan(r[0], a), _with_nan(r[1], a), r[2], _with_nan(r[3], b), _with_nan(r[4], a),
            _with_nan(r[5], b)]
    step.solve(np.stack(rows))
    assert len(step._factors) == 2
    step.solve(np.stack([_with_nan(r[0], c), _with_nan(r[1], b)]))
    assert len(step._factors) == 3
    # the cache is bounded
    small = FixedJacobianStep(J, R, LAM, cache_size=2)
    small.solve(np.stack([_with_nan(r[0], a), _with_nan(r[1], b), _with_nan(r[2], c)]))
    assert len(small._factors) == 2
    # a mask evicted and asked again is refactored to the same step
    again = small.solve(_with_nan(r[0], a)[None])[0]
    np.testing.assert_allclose(again, _reference(J, R, LAM, _with_nan(r[0], a)), atol=1e-10)


def test_a_sparse_prior_matrix_is_accepted(problem):
    J, R, r = problem
    y = _with_nan(r[0], _mask(np.random.default_rng(6), 44))
    dense = FixedJacobianStep(J, R, LAM).solve(y[None])
    sparse = FixedJacobianStep(J, sp.csr_matrix(R), LAM).solve(y[None])
    np.testing.assert_allclose(sparse, dense, atol=1e-12)


def test_a_row_with_every_value_missing_is_refused(problem):
    J, R, r = problem
    rows = np.stack([r[0], np.full(M, np.nan)])
    with pytest.raises(ValueError, match="every data value is missing"):
        FixedJacobianStep(J, R, LAM).solve(rows)
    with pytest.raises(ValueError, match="every data value is missing"):
        _kept(np.full(5, np.nan))
    np.testing.assert_array_equal(_kept(np.array([1.0, np.nan, 2.0])), [True, False, True])


# --- through operators: NaN in y is the same as the row-selected operator ----------------------

def _select(op: Operator, keep: np.ndarray) -> Operator:
    """op followed by the selection of the rows ``keep`` (as invtools.devices.imaging.masked)."""
    rows = np.nonzero(keep)[0]
    select = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, op.n_out))
    return ComposedOperator(LinearOperator(select, op.out_shape, (rows.size,)), op)


@pytest.fixture(scope="module")
def blur():
    op = QuadraticWindowBlur(n=53, window=9, stride=2, a=2.0, seed=0)  # 23 outputs
    rng = np.random.default_rng(0)
    x = torch.as_tensor(random_walk_signals(2, op.n, rng))
    y = op(x)
    y = y + 0.01 * y.pow(2).mean().sqrt() * torch.as_tensor(rng.standard_normal(tuple(y.shape)))
    keep = np.ones(op.n_out, dtype=bool)
    keep[[0, 3, 4, 11, 17, 22]] = False
    return op, x, y, keep


@pytest.mark.parametrize("cfg", [ClassicalConfig(prior="tikhonov", lam=1e-3, iterations=8),
                                 ClassicalConfig(prior="laplacian", noise_level=0.01, iterations=8),
                                 ClassicalConfig(prior="laplacian", iterations=8),
                                 ClassicalConfig(prior="tv", lam=1e-3, iterations=6)],
                         ids=["fixed-lam", "discrepancy", "lcurve", "tv"])
def test_gauss_newton_with_nan_equals_gauss_newton_on_the_kept_rows(blur, cfg):
    op, _, y, keep = blur
    y_nan = y.clone()
    y_nan[:, torch.as_tensor(~keep)] = torch.nan
    x0 = torch.full((2, op.n), 0.5, dtype=torch.float64)
    x_nan, info_nan = gauss_newton(op, y_nan, x0, cfg)
    x_sel, info_sel = gauss_newton(_select(op, keep), y[:, torch.as_tensor(keep)], x0, cfg)
    torch.testing.assert_close(x_nan, x_sel, rtol=0, atol=1e-8)
    for a, b in zip(info_nan, info_sel, strict=True):
        assert a.lam == pytest.approx(b.lam, rel=1e-10)
        assert len(a.objective) == len(b.objective) and len(a.objective) > 1
        np.testing.assert_allclose(a.objective, b.objective, rtol=1e-8)
        assert all(later <= earlier for earlier, later in zip(a.objective, a.objective[1:], strict=False))
        assert a.objective[-1] <= a.objective[0]


def test_gauss_newton_refuses_a_sample_with_every_value_missing(blur):
    op, _, y, _ = blur
    x0 = torch.full((2, op.n), 0.5, dtype=torch.float64)
    y_nan = y.clone()
    y_nan[1] = torch.nan
    with pytest.raises(ValueError, match="every data value is missing"):
        gauss_newton(op, y_nan, x0, ClassicalConfig(prior="tikhonov", lam=1e-3, iterations=2))


@pytest.fixture(scope="module")
def eit(log_eit):
    op, _, y, noise = log_eit
    keep = np.random.default_rng(1).uniform(size=op.n_out) > 0.3
    return op, y + noise, keep


def test_gauss_newton_on_eit_with_nan_equals_the_row_selected_operator(eit):
    op, y, keep = eit
    cfg = ClassicalConfig(prior="laplacian", lam=1e-4, iterations=4)
    y_nan = y.clone()
    y_nan[:, torch.as_tensor(~keep)] = torch.nan
    x0 = torch.zeros(1, op.n_in, dtype=torch.float64)
    x_nan, info_nan = gauss_newton(op, y_nan, x0, cfg)
    x_sel, info_sel = gauss_newton(_select(op, keep), y[:, torch.as_tensor(keep)], x0, cfg)
    torch.testing.assert_close(x_nan, x_sel, rtol=0, atol=1e-8)
    obj = info_nan[0].objective
    assert len(obj) > 1 and all(b <= a for a, b in zip(obj, obj[1:], strict=False))
    np.testing.assert_allclose(obj, info_sel[0].objective, rtol=1e-8)


@pytest.mark.parametrize("cfg", [ClassicalConfig(method="linearized", prior="laplacian", lam=1e-4),
                                 ClassicalConfig(method="linearized", prior="laplacian"),
                                 ClassicalConfig(method="linearized", prior="laplacian", noise_level=0.01)],
                         ids=["fixed-lam", "lcurve", "discrepancy"])
def test_linearized_step_with_nan_equals_the_row_selected_operator(eit, cfg):
    op, y, keep = eit
    x_ref = torch.zeros(2, op.n_in, dtype=torch.float64)
    dy = torch.cat([y, 0.5 * y]) - op(x_ref[:1])
    dy_nan = dy.clone()
    dy_nan[:, torch.as_tensor(~keep)] = torch.nan
    dx_nan, info_nan = linearized_step(op, dy_nan, x_ref, cfg)
    dx_sel, info_sel = linearized_step(_select(op, keep), dy[:, torch.as_tensor(keep)], x_ref, cfg)
    for a, b in zip(info_nan, info_sel, strict=True):
        assert a.lam == pytest.approx(b.lam, rel=1e-8)
    torch.testing.assert_close(dx_nan, dx_sel, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kept", [60, 45, 20])
def test_the_device_path_equals_the_host_path(problem, kept):
    """FixedJacobianStep on a torch device (here the CPU; CUDA where present) is the host step."""
    J, R, r = problem
    rng = np.random.default_rng(kept)
    rows = np.stack([_with_nan(row, _mask(rng, kept)) for row in r[:3]])
    host = FixedJacobianStep(J, R, LAM).solve(rows)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        step = FixedJacobianStep(torch.as_tensor(J), sp.csr_matrix(R), LAM, device=device)
        got = step.solve(torch.as_tensor(rows, device=device))
        assert got.device.type == device
        np.testing.assert_allclose(got.cpu().numpy(), host, rtol=0, atol=1e-10 * np.abs(host).max())
        one = step.solve(torch.as_tensor(rows[1:2], device=device))  # independent of the batch
        assert torch.equal(one[0], got[1])


def test_the_device_path_refuses_a_sample_with_every_value_missing(problem):
    J, R, _ = problem
    step = FixedJacobianStep(J, R, LAM, device="cpu")
    with pytest.raises(ValueError, match="every data value is missing"):
        step.solve(torch.full((1, M), float("nan"), dtype=torch.float64))


def test_the_mask_cache_keeps_the_most_recently_used(problem):
    J, R, r = problem
    step = FixedJacobianStep(J, R, LAM, cache_size=2)
    rng = np.random.default_rng(3)
    a, b, c = (_mask(rng, 20) for _ in range(3))
    for keep in (a, b, a, c):  # a was used after b: b is the one to go
        step.solve(_with_nan(r[0], keep)[None])
    keys = list(step._factors)
    assert np.packbits(a).tobytes() in keys and np.packbits(c).tobytes() in keys
    assert np.packbits(b).tobytes() not in keys


def test_linearized_steps_reuse_one_fixed_step_per_operator_and_weight():
    from invtools.classical.gauss_newton import fixed_step
    from invtools.classical.regularization import make_prior

    op = QuadraticWindowBlur.example()
    x_ref = torch.full((3, *op.in_shape), 0.5, dtype=torch.float64)
    y = op(x_ref + 0.1 * torch.randn(x_ref.shape, generator=torch.Generator().manual_seed(0),
                                     dtype=torch.float64))
    cfg = ClassicalConfig(method="linearized", lam=0.1)
    first, _ = linearized_step(op, y - op(x_ref), x_ref, cfg)
    again, _ = linearized_step(op, y - op(x_ref), x_ref, cfg)
    assert torch.equal(first, again)
    R = make_prior(cfg.prior, op.in_shape, None).hessian(np.zeros(op.n_in))
    assert fixed_step(op, x_ref[0], R, cfg) is fixed_step(op, x_ref[0], R, cfg)
    other = ClassicalConfig(method="linearized", lam=0.2)
    assert fixed_step(op, x_ref[0], R, other) is not fixed_step(op, x_ref[0], R, cfg)
    changed, _ = linearized_step(op, y - op(x_ref), x_ref, other)
    assert not torch.allclose(changed, first)
