"""The KTC2023 tank model: its image operator, the water fit on the accurate mesh, and the
noise model estimated from the injections the organisers drive twice."""

import numpy as np
import pytest
import torch

from forward_models.eit.ktc2023 import (
    KTC_ACCURATE_MESH,
    KTC_NOMINAL_CURRENT,
    KTC2023Tank,
    accurate_sigma0,
    ktc_image_operator,
    ktc_injection_pairs,
    ktc_operator,
    ktc_patterns,
    noise_from_repeats,
    repeated_injections,
)


def test_repeated_injections_are_the_same_pattern():
    pairs = ktc_injection_pairs()
    repeats = repeated_injections()
    assert len(repeats) == 4
    for first, again in repeats:
        assert first < again and pairs[first] == pairs[again]
    assert len({pairs[i] for i in range(76)}) == 76 - 4


def test_noise_model_is_recovered_from_repeats():
    rng = np.random.default_rng(0)
    a, b = 0.01, 0.008  # both terms matter over the range of the voltages
    clean = rng.uniform(-1.5, 1.5, (400, 76 * 31))
    for first, again in repeated_injections():  # the repeats measure the same voltages
        clean[:, again * 31:(again + 1) * 31] = clean[:, first * 31:(first + 1) * 31]
    noisy = clean + np.sqrt((a * clean) ** 2 + b**2) * rng.standard_normal(clean.shape)
    a_fit, b_fit = noise_from_repeats(noisy)
    assert a_fit == pytest.approx(a, rel=0.1) and b_fit == pytest.approx(b, rel=0.1)
    a0, b0 = noise_from_repeats(clean)  # noise-free repeats: no noise
    assert a0 == 0 and b0 == 0


def test_water_fit_on_the_accurate_mesh_is_exact_for_its_own_data():
    currents, measurement = ktc_patterns()
    h, levels = KTC_ACCURATE_MESH
    op = ktc_operator(currents, measurement, mesh_size=h, edge_levels=levels)
    with torch.no_grad():
        u = op(torch.full((1, op.n_in), 0.7, dtype=torch.float64))[0].numpy()
    # exact but for the contact impedance, which does not scale with 1/sigma (z sigma = 7e-7 m)
    assert accurate_sigma0(u, currents, measurement) == pytest.approx(0.7, rel=2e-4)


def test_image_operator_sees_a_constant_image_as_the_constant_conductivity():
    currents, measurement = ktc_patterns()
    image = ktc_image_operator(currents, measurement, pixels=16, mesh_size=0.02)
    mesh = ktc_operator(currents, measurement, mesh_size=0.02)
    assert image.in_shape == (16, 16) and image.n_out == mesh.n_out == 76 * 31
    with torch.no_grad():
        a = image(torch.full((1, 16, 16), 0.9, dtype=torch.float64))
        b = mesh(torch.full((1, mesh.n_in), 0.9, dtype=torch.float64))
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_the_tank_as_a_device_model_makes_the_same_calls():
    """The ``ktc2023`` device model (entry point of ``invtools.devices``): its image operator is
    :func:`ktc_image_operator`, its calibration the accurate-mesh water fit, its nominal patterns
    the organisers' at the nominal current."""
    from invtools.devices import load_description
    from invtools.devices.model import device_model

    tank = device_model(load_description("ktc2023"))
    assert isinstance(tank, KTC2023Tank) and tank.nominal_current == KTC_NOMINAL_CURRENT
    currents, measurement = tank.nominal_patterns(32)
    np.testing.assert_array_equal(currents, ktc_patterns(KTC_NOMINAL_CURRENT)[0])
    op = tank.image_operator(currents, measurement, 1e-6, mesh_size=0.02)
    same = ktc_image_operator(currents, measurement, mesh_size=0.02)
    x = torch.full((1, 32, 32), 0.8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(op(x), same(x), rtol=0, atol=0)
        accurate = ktc_operator(currents, measurement, mesh_size=KTC_ACCURATE_MESH[0],
                                edge_levels=KTC_ACCURATE_MESH[1])
        u = accurate(torch.full((1, accurate.n_in), 0.8, dtype=torch.float64))[0].numpy()
    cal = tank.calibrate(u, currents, measurement)
    assert cal.sigma0 == accurate_sigma0(u, currents, measurement) == pytest.approx(0.8, rel=2e-4)
    assert cal.contact_impedance == 1e-6 and cal.misfit < 1e-3  # its own data, but for z
