import numpy as np
import pytest

from forward_models.eit import CEMForward, Electrodes
from invtools.classical import TikhonovFamily, prior_matrix
from invtools.operators.geometry import input_adjacency, smoothness_laplacian


@pytest.mark.parametrize("shape", [(7,), (4, 5)])
def test_grid_laplacian_annihilates_constants_and_is_psd(shape):
    L = smoothness_laplacian(shape).toarray()
    n = int(np.prod(shape))
    assert np.allclose(L @ np.ones(n), 0)
    assert np.linalg.eigvalsh(L).min() > -1e-12
    assert np.allclose(L, L.T)


def test_mesh_laplacian_has_the_mesh_degrees():
    op = CEMForward.on_disk(Electrodes.equally_spaced(8, 0.5), 0.3)
    L = smoothness_laplacian(op.in_shape, input_adjacency(op)).toarray()
    assert np.allclose(L @ np.ones(op.n_in), 0)
    assert set(np.diag(L).astype(int)) <= {1, 2, 3}  # triangles have at most 3 edge neighbours


def test_unknown_prior_is_named():
    with pytest.raises(ValueError, match="unknown prior 'l1'"):
        prior_matrix("l1", (5,))


def test_family_step_solves_the_normal_equations():
    rng = np.random.default_rng(0)
    J, r = rng.standard_normal((12, 20)), rng.standard_normal(12)
    R = prior_matrix("laplacian", (20,))
    family = TikhonovFamily(J, r, R)
    for lam in (1e-3, 0.1, 10.0):
        direct = np.linalg.solve(J.T @ J + lam * R, J.T @ r)
        assert np.allclose(family.step(lam), direct, atol=1e-9)
    res, size = family.norms(np.array([1e-3, 10.0]))
    assert res[0] < res[1] and size[0] > size[1]  # the trade-off of the L-curve


def test_discrepancy_principle_matches_the_noise_norm():
    rng = np.random.default_rng(1)
    J = rng.standard_normal((40, 30)) @ np.diag(np.logspace(0, -4, 30))
    noise = 1e-2 * rng.standard_normal(40)
    r = J @ rng.standard_normal(30) + noise
    family = TikhonovFamily(J, r, np.eye(30))
    lam = family.discrepancy(np.linalg.norm(noise))
    lams = family.grid()
    res, _ = family.norms(lams)
    i = int(np.argmin(np.abs(lams - lam)))
    assert res[i] <= np.linalg.norm(noise) < res[i + 1]


def test_an_unreachable_discrepancy_falls_back_to_the_lcurve_corner():
    """Data with a component outside J's range (model error) above the noise level: no weight
    reaches the discrepancy, and the smallest weight of the grid would fit that error."""
    rng = np.random.default_rng(3)
    J = np.vstack([rng.standard_normal((30, 30)) @ np.diag(np.logspace(0, -6, 30)), np.zeros((10, 30))])
    r = J @ rng.standard_normal(30) + 1e-3 * rng.standard_normal(40)
    r[30:] = 1.0  # rows J cannot fit: the residual is at least sqrt(10) at every weight
    family = TikhonovFamily(J, r, np.eye(30))
    assert family.discrepancy(1e-2) is None
    assert family.choose(1e-2) == family.lcurve() > family.grid()[0]
    assert family.choose(10.0) == family.discrepancy(10.0)  # reachable: Morozov's choice


def test_lcurve_picks_an_interior_corner():
    rng = np.random.default_rng(2)
    J = rng.standard_normal((40, 30)) @ np.diag(np.logspace(0, -6, 30))
    r = J @ rng.standard_normal(30) + 1e-3 * rng.standard_normal(40)
    family = TikhonovFamily(J, r, np.eye(30))
    lam = family.lcurve()
    assert family.grid()[2] <= lam <= family.grid()[-3]


def test_non_finite_data_is_rejected():
    with pytest.raises(ValueError, match="non-finite"):
        TikhonovFamily(np.eye(3), np.array([1.0, np.nan, 0.0]), np.eye(3))
