from pathlib import Path

import numpy as np
import pytest
import torch

from forward_models.eit import ktc2023 as tank
from invtools.devices.ktc2023 import baseline as kb

KTC = Path("/work/shared/ktc2023")
KEPT = {1: 2356, 2: 1624, 3: 1404, 4: 1200, 5: 1012, 6: 630, 7: 513}  # the data's README


def test_covariance_is_the_squared_distance_formula_at_sample_pairs():
    pts = kb.pixel_centres(8)
    gamma = kb.smoothness_covariance(pts, 0.115, 0.05, 1e-9)
    b2 = -0.115**2 / (2 * np.log(0.01))
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, len(pts), size=(20, 2)):
        d2 = np.sum((pts[i] - pts[j]) ** 2)
        expect = (0.05**2 - 1e-9) * np.exp(-d2 / (2 * b2)) + (1e-9 if i == j else 0.0)
        assert gamma[i, j] == pytest.approx(expect, rel=1e-12)
    # the correlation is 0.01 at one correlation length
    two = np.array([[0.0, 0.0], [0.115, 0.0]])
    g2 = kb.smoothness_covariance(two, 0.115, 0.05, 0.0)
    assert g2[0, 1] / g2[0, 0] == pytest.approx(0.01, rel=1e-12)


def test_prior_factor_is_upper_and_its_gram_is_the_precision():
    pts = kb.pixel_centres(6)
    gamma = kb.smoothness_covariance(pts, 0.05)  # better conditioned than the tank's default
    L = kb.smoothness_prior(pts, 0.05)
    assert np.allclose(L, np.triu(L))
    assert np.allclose(L.T @ L @ gamma, np.eye(len(pts)), atol=1e-6)


def _small_problem(seed=1, m=60, n=25):
    rng = np.random.default_rng(seed)
    J = rng.normal(size=(m, n))
    L = kb.smoothness_prior(kb.pixel_centres(5), 0.05)
    u_ref = rng.uniform(0.1, 2.0, m) * rng.choice([-1, 1], m)
    return J, L, kb.noise_weights(u_ref), rng.normal(size=m) * 1e-3, u_ref


def test_step_solves_its_regularised_normal_equations():
    J, L, w, du, _ = _small_problem()
    delta = kb.baseline_step(J, du, None, L, w)
    W = np.diag(w**2)
    A, b = J.T @ W @ J + L.T @ L, J.T @ W @ du
    assert np.linalg.norm(A @ delta - b) / np.linalg.norm(b) < 1e-10


def test_noise_weights_follow_set_inv_gamma_in_percent():
    u = np.array([1.0, -2.0, 0.5, 4.0])
    w = kb.noise_weights(u, np.array([True, True, False, True]), 0.05, 0.01)
    var = (0.0005 * np.abs(u)) ** 2 + (0.0001 * 4.0) ** 2
    assert np.allclose(w[[0, 1, 3]], 1 / np.sqrt(var[[0, 1, 3]]))
    assert w[2] == 0.0
    # the maximum is the whole reference's, whatever the mask
    assert kb.noise_weights(u, np.array([True, False, False, False]))[0] == pytest.approx(1 / np.sqrt(var[0]))


def test_mask_equals_the_row_deleted_system_and_factors_are_kept_per_mask():
    J, L, w, du, u_ref = _small_problem()
    mask = np.ones(len(du), dtype=bool)
    mask[[0, 3, 7, 8, 30]] = False
    step = kb.LinearisedStep(J, L, w)
    delta = step(np.where(mask, du, np.nan), mask)
    deleted = kb.LinearisedStep(J[mask], L, w[mask])(du[mask])
    assert np.allclose(delta, deleted, rtol=1e-10, atol=1e-14)
    # masking the weights instead gives the same step
    assert np.allclose(kb.LinearisedStep(J, L, kb.noise_weights(u_ref, mask))(du), delta, rtol=1e-10)
    step(du, mask)
    step(du, None)
    assert len(step._factors) == 2


def _three_level_image(rng):
    x, y = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(-1, 1, 256))
    truth = np.zeros((256, 256), dtype=np.uint8)
    truth[(x - 0.4) ** 2 + y**2 < 0.1] = 2
    truth[(x + 0.4) ** 2 + (y - 0.3) ** 2 < 0.05] = 1
    image = np.select([truth == 2, truth == 1], [1.5, -0.8], 0.0) + 0.08 * rng.normal(size=truth.shape)
    return truth, image


def test_otsu2_recovers_three_noisy_levels():
    truth, image = _three_level_image(np.random.default_rng(2))
    labels = kb.otsu2(image)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
    assert np.mean(labels == truth) > 0.995
    # water is the most populous class even when it is the highest level
    noise = image - np.select([truth == 2, truth == 1], [1.5, -0.8], 0.0)
    labels2 = kb.otsu2(np.select([truth == 2, truth == 1], [-1.5, -0.8], 0.0) + noise)
    assert np.mean(labels2 == np.minimum(truth, 1)) > 0.995  # both inclusions below the water


def _otsu2_loop(values, bins):
    """Otsu2's double loop written plainly: the reference for the vectorised search."""
    h, edges = np.histogram(values, bins)
    k = np.arange(1, bins + 1)
    mu_t = (k @ h) / h.sum()
    best, level = 0.0, None
    for i in range(1, bins):
        for j in range(1, i):
            w = [h[:j].sum(), h[j:i].sum(), h[i:].sum()]
            if min(w) > 0:
                mus = [(k[:j] @ h[:j]) / w[0], (k[j:i] @ h[j:i]) / w[1], (k[i:] @ h[i:]) / w[2]]
                val = sum(wk * (mk - mu_t) ** 2 for wk, mk in zip(w, mus, strict=True))
                if val >= best:
                    best, level = val, (j - 1, i - 1)
    return level, (edges[:-1] + edges[1:]) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu2_levels_match_the_double_loop(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(0, 1, 300), rng.normal(4, 0.5, 60), rng.integers(-6, -3, 40)])
    level, x = kb.otsu2_levels(values, 24)
    ref_level, ref_x = _otsu2_loop(values, 24)
    assert level == ref_level and np.array_equal(x, ref_x)


def test_interpolation_is_in_the_organisers_frame():
    c = -0.115 + (np.arange(32) + 0.5) * 0.23 / 32
    y_field = np.repeat(c[:, None], 32, axis=1)  # value = y, row index growing with y
    x_field = y_field.T.copy()
    xs, ys = kb.organiser_sample_points()
    inside = xs**2 + ys**2 <= 0.115**2
    up = kb.interpolate_to_pixels(y_field)
    assert np.allclose(up[inside], ys[inside]) and np.all(up[~inside] == 0)
    assert up[10, 128] > 0.1 > -0.1 > up[245, 128]  # row 0 at the top
    assert np.allclose(kb.interpolate_to_pixels(x_field)[inside], xs[inside])


def vincl(currents: np.ndarray, level: int, n_rows: int | None = None) -> np.ndarray:
    """The organisers' ``vincl`` loop, transcribed literally as an oracle for the general rule
    (invtools.data.missing_data.level_mask): (P * k,) bool, injection-major, for currents (P, L) and k
    measurement rows (default L - 1): True where kept at difficulty ``level`` (1..7)."""
    P, L = currents.shape
    k = L - 1 if n_rows is None else n_rows
    removed = np.arange(2 * (level - 1))
    keep = np.ones((P, k), dtype=bool)
    keep[np.any(currents[:, removed] != 0, axis=1), :] = False
    keep[:, removed[removed < k]] = False
    return keep.ravel()


def test_level_masks_remove_the_readme_counts():
    """The organisers' literal vincl rule equals the general broken-electrode rule of
    forward_models.eit.missing (two implementations, one answer)."""
    from invtools.data.missing_data import level_mask

    currents, measurement = tank.ktc_patterns()
    for level, kept in KEPT.items():
        mask = vincl(currents, level)
        assert mask.shape == (2356,) and mask.sum() == kept
        assert np.array_equal(mask, level_mask(currents, measurement, level))


@pytest.mark.skipif(not (KTC / "levels").is_dir(), reason="needs the KTC2023 data")
@pytest.mark.parametrize("level", range(2, 8))
def test_level_masks_are_the_files_missing_values(level):
    from invtools.devices import load_description, read_device_file

    meas = read_device_file(load_description("ktc2023"), KTC / "levels" / f"level{level}" / "data1.mat")
    assert np.array_equal(vincl(meas.extra["currents"], level), meas.mask)


def test_baseline_finds_a_simulated_conductive_and_resistive_inclusion():
    currents, measurement = tank.ktc_patterns()
    op = tank.ktc_image_operator(currents, measurement)
    c = -0.115 + (np.arange(32) + 0.5) * 0.23 / 32
    X, Y = np.meshgrid(c, c)  # row index growing with y
    sigma = np.full((32, 32), 0.8)
    sigma[(X - 0.04) ** 2 + (Y - 0.04) ** 2 < 0.025**2] = 4.0
    sigma[(X + 0.05) ** 2 + (Y + 0.03) ** 2 < 0.025**2] = 0.05
    with torch.no_grad():
        y = op(torch.as_tensor(sigma)[None])[0].numpy()
        y_ref = op(torch.full((1, 32, 32), 0.8, dtype=torch.float64))[0].numpy()
    mask = vincl(currents, 2)
    rec, labels = kb.organisers_baseline(np.where(mask, y, np.nan), y_ref, mask, op)
    assert rec.shape == (32, 32) and labels.shape == (256, 256)
    xs, ys = kb.organiser_sample_points()
    near_c = (xs - 0.04) ** 2 + (ys - 0.04) ** 2 < 0.015**2
    near_r = (xs + 0.05) ** 2 + (ys + 0.03) ** 2 < 0.015**2
    assert np.mean(labels[near_c] == 2) > 0.9 and np.mean(labels[near_r] == 1) > 0.9
    assert np.mean(labels[(xs**2 + ys**2 > 0.1**2)] == 0) > 0.95
