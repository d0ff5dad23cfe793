"""The batched unit-field path (``CEMForward.batched``, the default with at least L - 1 current
patterns) against the per-sample path: the same physics to 1e-10, the operator contract on
both, and what the path promises (no unit solves for a forward pass, the factors' trailing
blocks as the electrode block of K^-1)."""

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes
from forward_models.eit.banded import BandedOrder
from forward_models.eit.cylinder import CylinderElectrodes
from forward_models.eit.domains import on_cylinder
from forward_models.eit.ktc2023 import ktc_image_operator, ktc_operator, ktc_patterns
from forward_models.eit.solvers import DirectSolver, EliminationOrder, OrderedLU
from forward_models.eit.unit_fields import UnitFieldBatch
from invtools import check_operator

E8 = Electrodes.equally_spaced(8, 0.5, 0.05)


def close(a, b, rtol=1e-10):
    """|a - b| <= rtol |b| in the max norm of the whole array."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= rtol * float(b.abs().max()), float((a - b).abs().max())


def disk(**kw):
    return CEMForward.on_disk(E8, 0.2, **kw)


def cylinder():
    rings = CylinderElectrodes(Electrodes.equally_spaced(6, 0.5, 0.05), (0.3, 0.7), 0.2)
    return on_cylinder(rings, 1.0, 1.0, 0.35)


def tank():
    I, M = ktc_patterns()
    return ktc_operator(I, M, mesh_size=0.02)


def per_pattern():
    """Each injection measured by its own matrix (differences skipping the driven pair)."""
    L = 8
    currents = np.stack([np.roll(np.r_[1.0, -1.0, np.zeros(L - 2)], p) for p in range(L)])
    diff = np.eye(L) - np.roll(np.eye(L), 1, axis=1)
    meas = [np.delete(diff, [p, (p + 1) % L], axis=0) for p in range(L)]
    return CEMForward.on_disk(E8, 0.2, currents=currents, measurements=meas)


OPERATORS = {"disk": disk, "cylinder 3-D": cylinder, "tank": tank, "per-pattern": per_pattern,
             "amg": lambda: disk(solver="amg")}


def pair(make):
    batched, per_sample = make(), make()
    per_sample.batched = False
    assert batched.uses_unit_fields() and not per_sample.uses_unit_fields()
    return batched, per_sample


@pytest.mark.parametrize("name", OPERATORS)
def test_batched_path_equals_the_per_sample_path(name):
    new, old = pair(OPERATORS[name])
    g = torch.Generator().manual_seed(3)
    x = torch.exp(0.4 * torch.randn(3, new.n_in, generator=g, dtype=torch.float64))
    v = torch.randn(3, new.n_in, generator=g, dtype=torch.float64)
    w = torch.randn(3, new.n_out, generator=g, dtype=torch.float64)
    rtol = 1e-6 if name == "amg" else 1e-10  # CG to its tolerance
    close(new(x), old(x), rtol)
    close(new.electrode_potentials(x), old.electrode_potentials(x), rtol)
    close(new.A_jvp(x, v), old.A_jvp(x, v), rtol)
    close(new.A_vjp(x, w), old.A_vjp(x, w), rtol)
    close(new.A_hvp(x, w, v), old.A_hvp(x, w, v), rtol)
    _, state = new._forward(x)
    close(state.jacobian(), old.jacobian(x), rtol)


@pytest.mark.parametrize("batched", [True, False])
def test_operator_contract_on_both_paths(batched):
    op = disk()
    op.batched = batched
    report = check_operator(op, op.example_input(2))
    assert report.fd_rel_error < 1e-6 and report.adjoint_rel_error < 1e-12
    assert report.hvp_rel_error < 1e-6 and report.gradcheck and report.gradgradcheck


def test_a_forward_pass_solves_for_no_unit_field(monkeypatch):
    op = tank()
    x = torch.full((2, op.n_in), 0.8, dtype=torch.float64)
    seen, host_batch = [], op.host_batch
    monkeypatch.setattr(op, "host_batch", lambda s, only=False: seen.append(only) or host_batch(s, only))
    with torch.no_grad():
        op(x)
    op(x.clone().requires_grad_())
    op.data_fit_gradient(x, torch.zeros(2, op.n_out, dtype=torch.float64))
    op.A_vjp(x, torch.ones(2, op.n_out, dtype=torch.float64))
    assert seen == [True, False, False, False]  # forward only: under no_grad, nothing else
    state = host_batch(x, True)
    assert isinstance(state, UnitFieldBatch) and state._grads is None and state._psi is None
    close(state.forward(), host_batch(x, False).forward())
    state.vjp(torch.ones(2, op.n_out, dtype=torch.float64))  # a derivative solves for them
    assert state._grads is not None


def test_trailing_blocks_of_the_ordered_factors_invert_the_electrode_block():
    op = tank()
    K = op.system.matrix(np.exp(0.3 * np.random.default_rng(0).standard_normal(op.n_in)))
    order = EliminationOrder(op.system.matrix(np.ones(op.n_in)), op.n_electrodes - 1)
    lu = OrderedLU(K, order)
    assert lu._schur_ok  # SuperLU kept the given order, so no solve was needed
    reference = DirectSolver(K).solve(op.system.unit_rhs())
    close(lu.trailing_inverse(), reference[op.system.n_nodes:])
    rhs = np.random.default_rng(1).standard_normal((op.system.size, 3))
    close(lu.solve(rhs), DirectSolver(K).solve(rhs))
    assert order.perm[-(op.n_electrodes - 1):].tolist() == list(range(op.system.n_nodes, op.system.size))


def test_pixel_jacobian_equals_the_dense_chain_rule():
    I, M = ktc_patterns()
    op = ktc_image_operator(I, M, pixels=8)
    g = torch.Generator().manual_seed(4)
    x = 0.8 * torch.exp(0.3 * torch.randn(3, 8, 8, generator=g, dtype=torch.float64))
    J = op.jacobian(x)
    with torch.no_grad():
        J_el = op.outer.jacobian(op.inner.A(x))
    dense_map = torch.from_numpy(op.pixel_map.matrix.toarray())
    assert J.shape == (3, op.n_out, 64)
    close(J, J_el @ dense_map)
    close(J[1:2], op.jacobian(x[1:2]))  # a sample's rows do not depend on its batch
    v = torch.randn(3, 8, 8, generator=g, dtype=torch.float64)
    close(torch.einsum("bmk,bk->bm", J, v.reshape(3, -1)), op.A_jvp(x, v))


def test_log_parametrised_jacobian_scales_columns():
    from invtools.operators.composition import log_parametrized

    I, M = ktc_patterns()
    op = ktc_image_operator(I, M, pixels=8)
    net_op = log_parametrized(op)
    s = 0.3 * torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    J = net_op.jacobian(s)
    close(J, op.jacobian(torch.exp(s)) * torch.exp(s).reshape(2, 1, -1))


def test_every_solve_is_as_accurate_as_the_tanks_conditioning_allows():
    """On the tank's image mesh (contact impedance 1e-6; condition number between 1e7 and 1e8)
    the electrode block of K^-1 from the ordered factors' trailing blocks and from a plain LU
    solve are within 2e-11 of an iteratively refined solve (residuals in long double), and from
    the banded Cholesky (the operator's choice on this mesh; measured 2.4e-11) within 5e-11:
    all far inside eps * cond (2e-9 to 2e-8)."""
    I, M = ktc_patterns()
    cem = ktc_image_operator(I, M).outer
    system = cem.system
    K = system.matrix(0.8 * np.exp(0.3 * np.random.default_rng(0).standard_normal(cem.n_in)))
    assert 1e7 < np.linalg.cond(K.toarray()) < 1e8
    rhs, n = system.unit_rhs(), system.n_nodes
    lu = DirectSolver(K)
    refined, dense = lu.solve(rhs), K.toarray().astype(np.longdouble)
    for _ in range(4):
        residual = (rhs.astype(np.longdouble) - dense @ refined.astype(np.longdouble)).astype(np.float64)
        refined = refined + lu.solve(residual)
    ordered = OrderedLU(K, cem.elimination_order()).trailing_inverse()
    close(ordered, refined[n:], rtol=2e-11)
    banded = BandedOrder(K, cem.n_electrodes - 1).factorise(K)  # the operator's choice here
    close(banded.trailing_inverse(), refined[n:], rtol=5e-11)
    close(banded.unit_fields()[n:], refined[n:], rtol=5e-11)
    close(lu.solve(rhs)[n:], refined[n:], rtol=2e-11)
