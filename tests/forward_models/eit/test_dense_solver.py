"""The dense Cholesky back-end (``solver="dense"``): equal to the sparse LU to 1e-10 in float64 on
2-D and 3-D meshes, derivatives included; passes the operator contract; names its failures."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from forward_models.eit import CEMForward, Electrodes, SingularSystemError
from forward_models.eit.cylinder import CylinderElectrodes
from forward_models.eit.domains import on_cylinder
from forward_models.eit.solvers import DENSE_MAX_UNKNOWNS, DenseSolver, make_solver
from invtools import check_operator, operator_from_config

E8 = Electrodes.equally_spaced(8, 0.5, 0.05)
TOL = dict(rtol=1e-10, atol=0)


def sigma(op, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.exp(0.4 * torch.randn(batch, op.n_in, generator=g, dtype=torch.float64))


def close(a, b):
    """|a - b| <= 1e-10 |b| in the max norm of the whole array (entries near 0 are not special)."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    assert float((a - b).abs().max()) <= 1e-10 * float(b.abs().max()), float((a - b).abs().max())


def pair_2d():
    kw = dict(currents="adjacent", measurements="differences")
    return (CEMForward.on_disk(E8, 0.15, solver="dense", **kw),
            CEMForward.on_disk(E8, 0.15, solver="direct", **kw))


def pair_2d_per_pattern():
    """Measurements that differ by pattern (the driving electrodes left out)."""
    kw = dict(currents="adjacent", measurements="differences", exclude_driving=True)
    return (CEMForward.on_disk(E8, 0.15, solver="dense", **kw),
            CEMForward.on_disk(E8, 0.15, solver="direct", **kw))


def pair_3d():
    el = CylinderElectrodes(Electrodes.equally_spaced(8, 0.5, 0.01), (0.3, 0.7), 0.2)
    return (on_cylinder(el, 1.0, 1.0, 0.3, solver="dense"),
            on_cylinder(el, 1.0, 1.0, 0.3, solver="direct"))


@pytest.mark.parametrize("pair", [pair_2d, pair_2d_per_pattern, pair_3d],
                         ids=["2-D disk", "2-D, measurements per pattern", "3-D cylinder"])
def test_dense_equals_sparse_forward_jacobian_jvp_vjp_hvp(pair):
    dense, sparse = pair()
    assert dense._shared_measurements == (pair is not pair_2d_per_pattern)
    s = sigma(sparse)
    g = torch.Generator().manual_seed(1)
    v = torch.randn(s.shape, generator=g, dtype=torch.float64)
    w = torch.randn(2, sparse.n_out, generator=g, dtype=torch.float64)
    u = torch.randn(s.shape, generator=g, dtype=torch.float64)
    close(dense(s), sparse(s))
    close(dense.jacobian(s), sparse.jacobian(s))
    close(dense.A_jvp(s, v), sparse.A_jvp(s, v))
    close(dense.A_vjp(s, w), sparse.A_vjp(s, w))
    assert sparse.has_hvp
    close(dense.A_hvp(s, w, u), sparse.A_hvp(s, w, u))


def test_dense_operator_passes_the_contract():
    dense, _ = pair_2d()
    report = check_operator(dense, sigma(dense))
    assert report.fd_rel_error < 1e-6 and report.adjoint_rel_error < 1e-6
    assert report.hvp_rel_error < 1e-6 and report.gradgradcheck


def test_dense_solver_choice_survives_the_config_round_trip():
    dense, _ = pair_2d()
    again = operator_from_config(dense.config())
    assert again.solver_kind == "dense"
    s = sigma(dense, 1)
    torch.testing.assert_close(again(s), dense(s), rtol=0, atol=0)


def test_dense_solve_equals_a_direct_solve_of_a_random_spd_matrix():
    rng = np.random.default_rng(0)
    B = sp.random(60, 60, density=0.1, random_state=rng)
    K = (B @ B.T + sp.identity(60)).tocsc()
    rhs = rng.standard_normal((60, 3))
    x = DenseSolver(K).solve(rhs)
    np.testing.assert_allclose(K @ x, rhs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(DenseSolver(K).solve(rhs[:, 0]), x[:, 0], rtol=1e-12, atol=0)


def test_dense_solver_names_singular_indefinite_and_oversized_systems():
    K = sp.csc_matrix(np.diag([1.0, 0.0, 2.0]))
    with pytest.raises(SingularSystemError, match="Cholesky failed at column 2"):
        make_solver(K, "dense")
    with pytest.raises(SingularSystemError, match="non-finite"):
        make_solver(sp.csc_matrix(np.diag([1.0, np.nan])), "dense")
    with pytest.raises(ValueError, match=f"at most {DENSE_MAX_UNKNOWNS} unknowns; this one has"):
        make_solver(sp.identity(DENSE_MAX_UNKNOWNS + 1, format="csc"), "dense")
    with pytest.raises(ValueError, match="unknown solver 'cholesky'"):
        CEMForward.on_disk(E8, 0.3, solver="cholesky")


def test_dense_operator_names_a_zero_conductivity():
    dense, _ = pair_2d()
    with pytest.raises(Exception, match="must be > 0"):
        dense(torch.zeros(1, dense.n_in, dtype=torch.float64))


def test_the_tank_on_pixels_is_the_same_on_the_dense_path():
    """The KTC2023 image operator (pixels -> mesh, contact impedance 1e-6): forward, Jacobian and
    the masked data fit of the unrolled nets equal the sparse path to 1e-10."""
    from forward_models.eit.ktc2023 import ktc_image_operator, ktc_patterns

    I, M = ktc_patterns()
    sparse, dense = ktc_image_operator(I, M, pixels=8), ktc_image_operator(I, M, pixels=8)
    dense.outer.solver_kind = "dense"
    g = torch.Generator().manual_seed(2)
    x = 0.8 * torch.exp(0.3 * torch.randn(2, 8, 8, generator=g, dtype=torch.float64))
    y = sparse(x * 3.0)  # a residual of the size of the data
    y[0, :100] = float("nan")  # missing values
    close(dense(x), sparse(x))
    close(dense.jacobian(x[:1]), sparse.jacobian(x[:1]))
    (rd, gd), (rs, gs) = dense.data_fit_gradient(x, y), sparse.data_fit_gradient(x, y)
    close(rd, rs)
    close(gd, gs)


def test_chunks_of_the_batch_give_the_same_result(monkeypatch):
    from forward_models.eit import dense_batch

    dense, _ = pair_2d()
    s = sigma(dense, batch=5)
    w = torch.randn(5, dense.n_out, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    whole = dense(s), dense.A_vjp(s, w), dense.jacobian(s)
    size = dense.system.size
    monkeypatch.setattr(dense_batch, "CPU_CHUNK_BYTES", 2 * 8 * size**2 * 3)  # 2 samples a chunk
    assert dense_batch.chunk_size(dense.device_system(torch.device("cpu")), torch.device("cpu")) == 2
    for a, b in zip((dense(s), dense.A_vjp(s, w), dense.jacobian(s)), whole, strict=True):
        close(a, b)


def test_the_dense_path_names_the_sample_whose_system_fails():
    dense, _ = pair_2d()
    s = sigma(dense, batch=3)
    s[1, 0] = float("inf")
    with pytest.raises(Exception, match="NaN or Inf"):
        dense(s)
    s[1, 0] = -1e3  # refused before any solve
    with pytest.raises(Exception, match="must be > 0"):
        dense(s)
    from forward_models.eit.dense_batch import DenseLinearization

    bad = sigma(dense, batch=3)
    bad[2] = -1.0  # every element negative: the matrix is not positive definite
    with pytest.raises(SingularSystemError, match="sample 2 is singular or not positive definite"):
        DenseLinearization(dense.device_system(torch.device("cpu")), bad)


def test_auto_solves_cpu_input_by_the_sparse_lu():
    op = CEMForward.on_disk(E8, 0.3)
    assert op.solver_kind == "auto"
    assert not op.solves_on_device(sigma(op))
    assert CEMForward.on_disk(E8, 0.3, solver="dense").solves_on_device(sigma(op))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.parametrize("pair", [pair_2d, pair_3d], ids=["2-D disk", "3-D cylinder"])
def test_cuda_input_is_solved_on_the_gpu_and_equals_the_cpu(pair):
    _, sparse = pair()
    auto = operator_from_config({**sparse.config(), "solver": "auto"})
    s = sigma(sparse)
    g = torch.Generator().manual_seed(1)
    v = torch.randn(s.shape, generator=g, dtype=torch.float64)
    w = torch.randn(2, sparse.n_out, generator=g, dtype=torch.float64)
    sc, vc, wc = s.cuda(), v.cuda(), w.cuda()
    assert auto.solves_on_device(sc)
    for got, want in ((auto(sc), sparse(s)), (auto.jacobian(sc), sparse.jacobian(s)),
                      (auto.A_jvp(sc, vc), sparse.A_jvp(s, v)), (auto.A_vjp(sc, wc), sparse.A_vjp(s, w)),
                      (auto.A_hvp(sc, wc, vc), sparse.A_hvp(s, w, v))):
        assert got.device.type == "cuda"
        close(got.cpu(), want)


@cuda
def test_the_data_fit_gradient_stays_on_the_gpu():
    dense, sparse = pair_2d()
    s = sigma(sparse).cuda().requires_grad_()
    y = sparse(sigma(sparse, seed=4)).cuda()
    y[0, 3] = float("nan")
    residual, grad = dense.data_fit_gradient(s, y)
    assert residual.device.type == grad.device.type == "cuda"
    grad.sum().backward()  # second order through A_hvp, on the device
    assert s.grad.device.type == "cuda" and bool(torch.isfinite(s.grad).all())
