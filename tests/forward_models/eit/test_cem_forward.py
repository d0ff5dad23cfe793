"""CEMForward as an Operator: derivatives, batching, solvers, errors, serialisation."""

import json

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes, current_patterns, measurement_patterns
from invtools import OperatorInputError, check_operator, operator_from_config

E8 = Electrodes.equally_spaced(8, 0.5, 0.05)


def sigma(op, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.exp(0.4 * torch.randn(batch, op.n_in, generator=g, dtype=torch.float64))


CONFIGS = {
    "raw potentials": dict(currents="adjacent", measurements=None),
    "differences": dict(currents="adjacent", measurements="differences"),
    "no driving electrodes": dict(currents="opposite", measurements="differences",
                                  exclude_driving=True),
    "trigonometric": dict(currents="trigonometric", measurements="differences"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_check_operator_on_random_conductivities(name):
    op = CEMForward.on_disk(E8, 0.2, **CONFIGS[name])
    report = check_operator(op, sigma(op))
    assert report.fd_rel_error < 1e-6 and report.adjoint_rel_error < 1e-6
    assert report.hvp_rel_error < 1e-6 and report.gradgradcheck


def test_partial_arc_electrodes():
    arc = Electrodes.on_arc(8, (0.0, np.pi), coverage=0.6, z=[0.02, 0.05] * 4)
    op = CEMForward.on_disk(arc, 0.15)
    assert check_operator(op, sigma(op, 1, seed=4)).passed


def test_jacobian_of_homogeneous_sigma_equals_finite_differences():
    op = CEMForward.on_disk(E8, 0.25)
    s0 = torch.ones(1, op.n_in, dtype=torch.float64)
    J = op.jacobian(s0)[0].numpy()
    h = 1e-3
    fd = np.empty_like(J)
    for e in range(op.n_in):
        d = torch.zeros_like(s0)
        d[0, e] = h
        fd[:, e] = ((8 * (op(s0 + d) - op(s0 - d)) - (op(s0 + 2 * d) - op(s0 - 2 * d)))
                    / (12 * h))[0].numpy()
    assert np.linalg.norm(J - fd) / np.linalg.norm(fd) < 1e-6


def test_autograd_backward_flows_through_physics():
    op = CEMForward.on_disk(E8, 0.2)
    s = sigma(op, 3).requires_grad_(True)
    y_target = op(sigma(op, 3, seed=9)).detach()
    loss = ((op(s) - y_target) ** 2).sum()
    loss.backward()
    J = op.jacobian(s.detach())
    expected = 2 * torch.einsum("bmn,bm->bn", J, (op(s.detach()) - y_target))
    torch.testing.assert_close(s.grad, expected, rtol=1e-9, atol=1e-12)


def test_batch_threads_and_float32_agree():
    op = CEMForward.on_disk(E8, 0.2, n_threads=1)
    op_mt = CEMForward.on_disk(E8, 0.2, n_threads=2)
    s = sigma(op, 4)
    y = op(s)
    torch.testing.assert_close(op_mt(s), y, rtol=0, atol=0)
    torch.testing.assert_close(op(s[2:3]), y[2:3], rtol=0, atol=0)
    y32 = op(s.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_solves_run_with_the_requested_blas_threads(n_threads):
    """Inside the batch map BLAS is capped at ``blas_threads``; outside it is left alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("no BLAS library visible to threadpoolctl")
    before = [i["num_threads"] for i in blas]

    def seen(_):
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    capped = CEMForward.on_disk(E8, 0.2, n_threads=n_threads)
    assert all(n == [1] * len(blas) for n in capped._map(seen, [0, 1, 2]))
    free = CEMForward.on_disk(E8, 0.2, n_threads=n_threads, blas_threads=None)
    assert all(n == before for n in free._map(seen, [0, 1, 2]))
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"] == before
    s = sigma(capped, 3)
    torch.testing.assert_close(capped(s), free(s), rtol=1e-12, atol=0)


def test_amg_solver_matches_direct():
    direct = CEMForward.on_disk(E8, 0.1, solver="direct")
    amg = CEMForward.on_disk(E8, 0.1, solver="amg")
    s = sigma(direct, 1)
    torch.testing.assert_close(amg(s), direct(s), rtol=1e-7, atol=1e-9)
    w = torch.randn(1, direct.n_out, dtype=torch.float64)
    torch.testing.assert_close(amg.A_vjp(s, w), direct.A_vjp(s, w), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad, match", [
    (lambda n: -torch.ones(1, n, dtype=torch.float64), "must be > 0; sample 0, element 0"),
    (lambda n: torch.zeros(2, n, dtype=torch.float64), "must be > 0"),
    (lambda n: torch.full((1, n), float("nan"), dtype=torch.float64), "NaN"),
    (lambda n: torch.ones(1, n + 1, dtype=torch.float64), "shape"),
])
def test_bad_conductivity_is_named(bad, match):
    op = CEMForward.on_disk(E8, 0.3)
    with pytest.raises(OperatorInputError, match=match):
        op(bad(op.n_in))


def test_bad_patterns_are_rejected():
    op = CEMForward.on_disk(E8, 0.3)
    with pytest.raises(ValueError, match="does not sum to zero"):
        CEMForward(op.mesh, op.facets, 0.05, np.ones((1, 8)))
    with pytest.raises(ValueError, match=r"shape \(P, 8\)"):
        CEMForward(op.mesh, op.facets, 0.05, current_patterns("adjacent", 6))
    with pytest.raises(ValueError, match="measurements"):
        CEMForward(op.mesh, op.facets, 0.05, current_patterns("adjacent", 8), np.eye(5))


@pytest.mark.parametrize("use_recipe", [True, False])
def test_config_round_trip(use_recipe):
    I = current_patterns("adjacent", 8)
    M = measurement_patterns("differences", I, exclude_driving=True)
    op = CEMForward.on_disk(E8, 0.25, currents=I, measurements=M)
    if not use_recipe:
        op = CEMForward(op.mesh, op.facets, op.z, I, M)
    cfg = json.loads(json.dumps(op.config()))
    assert ("disk" in cfg) == use_recipe
    op2 = operator_from_config(cfg)
    s = sigma(op, 1)
    torch.testing.assert_close(op2(s), op(s), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["differences", "no driving electrodes"])  # shared / per-pattern
def test_jacobian_reuses_only_memory_nobody_holds(name):
    """A held Jacobian keeps its values while later ones are computed; a dropped one's memory
    is written again, in full (every entry of the new Jacobian is right)."""
    op = CEMForward.on_disk(E8, 0.2, **CONFIGS[name])
    a, b = sigma(op, 2, seed=1), sigma(op, 2, seed=2)
    J_a = op.jacobian(a)
    kept = J_a.clone()
    J_b = op.jacobian(b)
    assert J_b.data_ptr() != J_a.data_ptr()
    torch.testing.assert_close(J_a, kept, rtol=0, atol=0)
    expected_b = J_b.clone()
    ptr = J_b.data_ptr()
    J_b.fill_(float("nan"))
    del J_b
    again = op.jacobian(b)
    assert again.data_ptr() == ptr  # the dropped output's memory, overwritten in full
    torch.testing.assert_close(again, expected_b, rtol=0, atol=0)
    view = again[0, :3]
    values = view.clone()
    del again
    op.jacobian(a)
    torch.testing.assert_close(view, values, rtol=0, atol=0)
