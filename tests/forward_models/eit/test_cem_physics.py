"""Physics of the CEM solution: a mesh-free reference, conservation, reciprocity, scaling."""

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes, current_patterns
from forward_models.eit.disk_reference import disk_electrode_potentials

ADJ16 = current_patterns("adjacent", 16)


def ones(op):
    return torch.ones(1, op.n_in, dtype=torch.float64)


def reference(electrodes, currents):
    """Fourier reference with Richardson extrapolation in the number of modes."""
    u1 = disk_electrode_potentials(electrodes, currents, n_modes=256)
    u2 = disk_electrode_potentials(electrodes, currents, n_modes=512)
    return u2 + (u2 - u1) / 3


def test_reference_converges_in_modes():
    e = Electrodes.equally_spaced(16, 0.4, 0.01)
    u = [disk_electrode_potentials(e, ADJ16, n_modes=n) for n in (128, 256, 512)]
    d1, d2 = np.linalg.norm(u[1] - u[0]), np.linalg.norm(u[2] - u[1])
    assert d2 < d1 / 3  # O(n^-2)
    np.testing.assert_allclose(u[2].sum(axis=1), 0, atol=1e-12)


@pytest.mark.parametrize("z", [0.01, 0.1])
def test_homogeneous_disk_converges_to_reference(z):
    """16 electrodes covering 40%: error falls under each refinement, < 0.5% at ~10k nodes."""
    e = Electrodes.equally_spaced(16, 0.4, z)
    ref = reference(e, ADJ16)
    errors, nodes = [], []
    for h in (0.1, 0.05, 0.025):
        op = CEMForward.on_disk(e, h, currents=ADJ16, measurements=None, edge_levels=2)
        U = op.electrode_potentials(ones(op))[0].numpy()
        errors.append(np.linalg.norm(U - ref) / np.linalg.norm(ref))
        nodes.append(op.mesh.p.shape[1])
    assert 8_000 < nodes[-1] < 12_000
    assert errors[-1] < 5e-3
    rates = -np.diff(np.log(errors)) / np.diff(np.log(nodes))  # error ~ N^-rate
    assert np.all(rates > 0.8), (errors, nodes, rates)


@pytest.fixture(scope="module")
def op16():
    return CEMForward.on_disk(Electrodes.equally_spaced(16, 0.4, 0.05), 0.1,
                              currents=ADJ16, measurements=None)


def random_sigma(op, seed=0, batch=1):
    g = torch.Generator().manual_seed(seed)
    return torch.exp(0.5 * torch.randn(batch, op.n_in, generator=g, dtype=torch.float64))


def test_electrode_currents_are_conserved(op16):
    """Currents leaving through each electrode, (1/z) int (U_l - u), equal the injected ones."""
    sigma = random_sigma(op16)[0].numpy()
    lin = op16.linearize(sigma)
    np.testing.assert_allclose(op16.system.electrode_currents(lin.X), op16.currents, atol=1e-10)
    np.testing.assert_allclose(lin.U.sum(axis=1), 0, atol=1e-12)  # ground


def test_reciprocity(op16):
    """<I_q, U(I_p)> = <I_p, U(I_q)> for any conductivity (swap drive and measurement)."""
    U = op16.electrode_potentials(random_sigma(op16, 1))[0].numpy()
    T = op16.currents @ U.T
    np.testing.assert_allclose(T, T.T, rtol=1e-10, atol=1e-12)


def test_linearity_in_current(op16):
    sigma = random_sigma(op16, 2)
    U = op16.electrode_potentials(sigma)[0].numpy()
    mixed = np.array([3.0 * op16.currents[0] - 2.0 * op16.currents[5]])
    op_mixed = CEMForward(op16.mesh, op16.facets, op16.z, mixed)
    U_mixed = op_mixed.electrode_potentials(sigma)[0, 0].numpy()
    np.testing.assert_allclose(U_mixed, 3.0 * U[0] - 2.0 * U[5], rtol=1e-10, atol=1e-12)


def test_scaling_sigma_and_contact_impedance(op16):
    """sigma -> c sigma together with z -> z / c scales all potentials by 1/c."""
    sigma, c = random_sigma(op16, 3), 7.0
    scaled = CEMForward(op16.mesh, op16.facets, op16.z / c, op16.currents)
    torch.testing.assert_close(scaled.electrode_potentials(c * sigma),
                               op16.electrode_potentials(sigma) / c, rtol=1e-10, atol=1e-13)
