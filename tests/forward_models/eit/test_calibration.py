"""Tank calibration: exact derivatives (finite differences), continuity as an electrode end
crosses a mesh node, recovery of known parameters, monotone residual, noise from repeats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes, disk_mesh, electrode_facets
from forward_models.eit.calibration import calibrate, repeat_noise, repeated_patterns
from forward_models.eit.calibration_model import TankModel, TankParameters, arc_integrals, boundary_ring
from forward_models.eit.patterns import adjacent_differences, skip_currents

L, R = 8, 1.0
NOMINAL = Electrodes.equally_spaced(L, 0.5, 0.05)
CURRENTS = np.vstack([skip_currents(L, 0), skip_currents(L, 1), skip_currents(L, 3)])
MEASUREMENT = adjacent_differences(L)


@pytest.fixture(scope="module")
def mesh():
    return disk_mesh(NOMINAL, 0.1, R)


@pytest.fixture(scope="module")
def model(mesh):
    return TankModel(mesh, R, CURRENTS, MEASUREMENT)


def true_electrodes(seed: int = 1) -> Electrodes:
    rng = np.random.default_rng(seed)
    shift = rng.normal(0, 0.03, L)
    shift -= shift.mean()  # a common rotation is invisible on a round tank
    return Electrodes(NOMINAL.centers + shift, NOMINAL.widths * np.exp(rng.normal(0, 0.1, L)),
                      0.05 * np.exp(rng.normal(0, 0.5, L)))


def circular(d: np.ndarray) -> np.ndarray:
    return (d + np.pi) % (2 * np.pi) - np.pi


def test_arc_integrals_are_the_integrals_of_the_hat_functions(mesh):
    nodes, angles = boundary_ring(mesh, R)
    start, end = 6.1, 6.1 + 0.45  # wraps past 0, both ends inside segments
    arc = arc_integrals(nodes, angles, R, start, end)
    # hat functions, linear in the angle between neighbouring nodes, sampled densely
    t = np.linspace(start, end, 400001)
    tt = t % (2 * np.pi)
    ext = np.append(angles, angles[0] + 2 * np.pi)
    k = np.searchsorted(ext, tt, side="right") - 1
    frac = (tt - ext[k]) / np.diff(ext)[k]
    phi = np.zeros((arc.nodes.size, t.size))
    local = {n: i for i, n in enumerate(arc.nodes)}
    for node, w in ((nodes[k], 1 - frac), (nodes[(k + 1) % nodes.size], frac)):
        for n in np.unique(node):
            phi[local[n], node == n] += w[node == n]
    ds = R * (t[1] - t[0])
    trap = np.full(t.size, ds)
    trap[[0, -1]] /= 2
    np.testing.assert_allclose(arc.load, phi @ trap, atol=1e-9)
    np.testing.assert_allclose(arc.mass, (phi * trap) @ phi.T, atol=1e-9)
    assert arc.length == pytest.approx(R * (end - start), rel=1e-12)
    np.testing.assert_allclose(arc.mass.sum(axis=1), arc.load, rtol=1e-12)


def test_model_matches_the_cem_forward_on_a_conforming_mesh(mesh, model):
    """Arc integrals against scikit-fem's chord facets: the same model to O(h^2)."""
    y, _ = model.simulate(TankParameters.from_electrodes(NOMINAL, 1.3))
    op = CEMForward(mesh, electrode_facets(mesh, NOMINAL), NOMINAL.contact_impedance, CURRENTS, MEASUREMENT)
    y_ref = op(torch.full((1, op.n_in), 1.3, dtype=torch.float64))[0].numpy()
    assert np.linalg.norm(y - y_ref) / np.linalg.norm(y_ref) < 1e-3


def finite_differences(model: TankModel, theta: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    cols = []
    for n in range(theta.size):
        e = np.zeros_like(theta)
        e[n] = eps
        up, _ = model.simulate(TankParameters.from_vector(theta + e))
        down, _ = model.simulate(TankParameters.from_vector(theta - e))
        cols.append((up - down) / (2 * eps))
    return np.stack(cols, axis=1)


def test_every_derivative_matches_finite_differences(model):
    """log sigma, each log z_l, centre c_l and log width w_l, with the ends inside facets."""
    theta = TankParameters.from_electrodes(true_electrodes(), 1.7).vector()
    _, J = model.simulate(TankParameters.from_vector(theta), jacobian=True)
    fd = finite_differences(model, theta)
    err = np.linalg.norm(J - fd, axis=0) / np.linalg.norm(J, axis=0)
    assert err.max() < 1e-6, err
    assert np.all(np.linalg.norm(J, axis=0) > 1e-3)  # every parameter is seen by the data


def test_values_and_derivatives_are_continuous_as_the_ends_cross_mesh_nodes(model):
    """The nominal electrodes' ends are mesh nodes: moving electrode 0 by -+eps takes both
    ends across a node; the data move by O(eps) and the Jacobian does not jump."""
    theta = TankParameters.from_electrodes(NOMINAL, 1.0).vector()
    c0 = 1 + L  # electrode 0's centre
    eps = 1e-7
    sides = []
    for sign in (-1, 1):
        th = theta.copy()
        th[c0] += sign * eps
        sides.append(model.simulate(TankParameters.from_vector(th), jacobian=True))
    (y_minus, J_minus), (y_plus, J_plus) = sides
    slope = np.linalg.norm(J_plus[:, c0])
    assert np.linalg.norm(y_plus - y_minus) < 2 * eps * slope * 1.01
    assert np.linalg.norm(J_plus - J_minus) / np.linalg.norm(J_plus) < 1e-5
    # and one-sided finite differences on each side agree with the derivative there
    for sign, (_, J) in zip((-1, 1), sides, strict=True):
        th = theta.copy()
        th[c0] += sign * 1e-4
        th_far = th.copy()
        th_far[c0] += sign * 1e-4
        y_a, _ = model.simulate(TankParameters.from_vector(th))
        y_b, _ = model.simulate(TankParameters.from_vector(th_far))
        np.testing.assert_allclose((y_b - y_a) / (sign * 1e-4), J[:, c0], rtol=1e-3,
                                   atol=1e-3 * slope)


@pytest.mark.parametrize("fit,known", [(("conductivity", "contact_impedance", "centers"), "widths"),
                                       (("conductivity", "centers", "widths"), "contact_impedance")])
def test_recovers_known_parameters_from_noiseless_data(mesh, model, fit, known):
    true = true_electrodes()
    y, _ = model.simulate(TankParameters.from_electrodes(true, 2.0))
    start = Electrodes(NOMINAL.centers, true.widths if known == "widths" else NOMINAL.widths,
                       true.contact_impedance if known == "contact_impedance" else 0.05)
    cal = calibrate(y, CURRENTS, MEASUREMENT, start, R, mesh=mesh, fit=fit, regularization=1e-8)
    assert cal.residual_before > 0.01 and cal.residual_after < 1e-8
    assert cal.conductivity == pytest.approx(2.0, rel=1e-7)
    assert np.abs(circular(cal.electrodes.centers - true.centers)).max() < 1e-7
    np.testing.assert_allclose(cal.electrodes.widths, true.widths, rtol=1e-6)
    np.testing.assert_allclose(cal.electrodes.contact_impedance, true.contact_impedance, rtol=1e-6)


def test_the_residual_never_increases_and_parameters_stay_physical(mesh, model):
    true = true_electrodes(seed=4)
    y, _ = model.simulate(TankParameters.from_electrodes(true, 0.5))
    y = y * (1 + 1e-3 * np.random.default_rng(0).standard_normal(y.size))  # noisy
    cal = calibrate(y, CURRENTS, MEASUREMENT, NOMINAL, R, mesh=mesh, max_iter=8)
    h = np.asarray(cal.history)
    assert np.all(np.diff(h) <= 0) and h.size > 2
    assert h[0] == cal.residual_before and h[-1] == cal.residual_after
    assert cal.residual_after < cal.residual_before / 10
    assert cal.conductivity == pytest.approx(0.5, rel=0.01)
    assert np.all(cal.electrodes.widths <= 2 * NOMINAL.widths)
    assert np.all(cal.electrodes.widths >= NOMINAL.widths / 2)
    s = cal.summary()
    assert s["max_shift_mm"] > 0 and s["z_min"] <= s["z_max"]


def test_bad_input_is_named(mesh):
    y = np.ones(CURRENTS.shape[0] * L)
    with pytest.raises(ValueError, match="electrode count mismatch.*8.*6"):
        calibrate(y, CURRENTS, MEASUREMENT, Electrodes.equally_spaced(6), R, mesh=mesh)
    with pytest.raises(ValueError, match="measurement pattern has 7"):
        calibrate(y, CURRENTS, MEASUREMENT[:, :7], NOMINAL, R, mesh=mesh)
    bad = y.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="1 NaN.*index 5.*mask"):
        calibrate(bad, CURRENTS, MEASUREMENT, NOMINAL, R, mesh=mesh)
    with pytest.raises(ValueError, match="voltages have 10 values.*24 injections x 8"):
        calibrate(y[:10], CURRENTS, MEASUREMENT, NOMINAL, R, mesh=mesh)
    with pytest.raises(ValueError, match="radius"):
        calibrate(y, CURRENTS, MEASUREMENT, NOMINAL, -1.0, mesh=mesh)
    with pytest.raises(ValueError, match="unknown fit parameters.*'sigma'"):
        calibrate(y, CURRENTS, MEASUREMENT, NOMINAL, R, mesh=mesh, fit=("sigma",))
    with pytest.raises(ValueError, match="not the circle of radius 2"):
        TankModel(mesh, 2.0, CURRENTS, MEASUREMENT)


def test_masked_nan_values_are_left_out(mesh, model):
    true = true_electrodes()
    y, _ = model.simulate(TankParameters.from_electrodes(true, 2.0))
    keep = np.ones(y.size, dtype=bool)
    keep[[3, 40]] = False
    y[~keep] = np.nan
    cal = calibrate(y, CURRENTS, MEASUREMENT, Electrodes(NOMINAL.centers, true.widths, 0.05), R, mesh=mesh,
                    mask=keep, fit=("conductivity", "contact_impedance", "centers"), regularization=1e-8)
    assert cal.residual_after < 1e-8


def test_noise_per_channel_from_repeated_patterns():
    rng = np.random.default_rng(0)
    k, P = 5, 400
    base = skip_currents(L, 1)[:2]
    scale = np.where(np.arange(P) % 4 == 3, 1.02, 1.0)  # some repeats at another amplitude
    currents = base[np.arange(P) % 2] * scale[:, None]
    signal = rng.normal(size=(2, k))[np.arange(P) % 2] * scale[:, None]
    std = np.array([1e-3, 2e-3, 5e-4, 1e-3, 3e-3])
    noise = repeat_noise(signal + std * rng.standard_normal((P, k)), currents, k)
    assert noise.dof == P - 2 and noise.pairs[0] == (0, 2)
    np.testing.assert_allclose(noise.channel_std, std, rtol=0.15)
    assert repeat_noise(np.zeros((L, k)), skip_currents(L, 0), k) is None  # no repeats: no number
    flipped = np.vstack([skip_currents(L, 0), -skip_currents(L, 0)[:3]])
    assert repeated_patterns(flipped) == []
    assert [p[:2] for p in repeated_patterns(flipped, reversed_sign=True)] == [(0, 8), (1, 9), (2, 10)]
