"""The banded Cholesky with the electrode block as its border: equal to a dense solve, the
same batched linearisation as the sparse LU, refusing a singular system, and chosen by its cost
model only where the band is narrow."""

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes
from forward_models.eit.banded import BandedOrder, BandedSchur, host_order
from forward_models.eit.solvers import EliminationOrder, SingularSystemError

E16 = Electrodes.equally_spaced(16, 0.5, 0.01)


def system_and_sigma(h: float = 0.15, seed: int = 0):
    op = CEMForward.on_disk(E16, h)
    sigma = np.exp(0.5 * np.random.default_rng(seed).standard_normal(op.n_in))
    return op, op.system.matrix(sigma)


def test_solve_unit_fields_and_electrode_block_equal_a_dense_solve():
    op, K = system_and_sigma()
    k = op.n_electrodes - 1
    factors = BandedSchur(K, BandedOrder(op.system.matrix(np.ones(op.n_in)), k))
    dense_inverse = np.linalg.inv(K.toarray())
    rhs = np.random.default_rng(1).standard_normal((K.shape[0], 3))
    scale = np.abs(dense_inverse).max()
    assert np.abs(factors.solve(rhs) - dense_inverse @ rhs).max() <= 1e-10 * np.abs(dense_inverse @ rhs).max()
    assert np.abs(factors.solve(rhs[:, 0]) - dense_inverse @ rhs[:, 0]).max() <= 1e-10 * scale * 10
    assert np.abs(factors.unit_fields() - dense_inverse[:, -k:]).max() <= 1e-10 * scale
    assert np.abs(factors.trailing_inverse() - dense_inverse[-k:, -k:]).max() <= 1e-10 * scale


def test_the_band_is_the_renumbered_node_blocks_half_width():
    op, K = system_and_sigma()
    order = BandedOrder(K, op.n_electrodes - 1)
    N = op.system.n_nodes
    A = K[:N, :N].tocoo()
    rank = np.argsort(order.perm)
    assert order.bandwidth == np.abs(rank[A.row] - rank[A.col]).max()
    assert order.bandwidth < N // 4  # reverse Cuthill-McKee narrows the disk's band


def test_a_singular_or_non_finite_system_is_refused_by_name():
    op, K = system_and_sigma()
    order = BandedOrder(K, op.n_electrodes - 1)
    for bad, message in ((-1.0, "not positive definite"), (np.nan, "non-finite")):
        broken = K.copy()
        broken.data[:] = K.data * np.where(np.arange(K.nnz) == 0, bad, 1.0)
        with pytest.raises(SingularSystemError, match=message):
            BandedSchur(broken, order)


def test_batched_linearisation_is_the_same_with_the_band_and_the_sparse_lu():
    op = CEMForward.on_disk(E16, 0.15)
    assert isinstance(op.host_order(), BandedOrder)
    sigma = torch.exp(0.3 * torch.randn(3, op.n_in, generator=torch.Generator().manual_seed(2),
                                        dtype=torch.float64))
    w = torch.randn(3, op.n_out, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    u = torch.randn(3, op.n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    band = op.host_batch(sigma)
    op._host_order = op.elimination_order()
    lu = op.host_batch(sigma)
    for a, b in ((band.forward(), lu.forward()), (band.vjp(w), lu.vjp(w)), (band.jvp(u), lu.jvp(u)),
                 (band.hvp(w, u), lu.hvp(w, u)), (band.unit_electrodes, lu.unit_electrodes)):
        assert float((a - b).abs().max()) <= 1e-10 * float(b.abs().max())


def test_the_cost_model_takes_the_band_on_small_meshes_only():
    small = CEMForward.on_disk(E16, 0.15)
    K = small.system.matrix(np.ones(small.n_in))
    assert isinstance(host_order(K, 15), BandedOrder)
    assert isinstance(host_order(K, 15, banded=False), EliminationOrder)
    assert isinstance(CEMForward.on_disk(E16, 0.15, solver="direct").host_order(), EliminationOrder)
    large = CEMForward.on_disk(E16, 0.02)  # ~18k elements: the band is far wider than the fill
    K = large.system.matrix(np.ones(large.n_in))
    band, sparse = BandedOrder(K, 15), EliminationOrder(K, 15)
    assert band.flops() > 4 * sparse.flops()
    assert isinstance(host_order(K, 15), EliminationOrder)
