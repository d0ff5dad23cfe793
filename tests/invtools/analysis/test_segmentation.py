"""KTC2023 score, three-class Otsu segmentation and the organisers' pixel frame."""

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

from forward_models.eit import Electrodes, disk_mesh
from invtools.analysis.metrics import ktc_score, ktc_ssim
from invtools.analysis.segmentation import (
    CONDUCTIVE,
    RESISTIVE,
    WATER,
    mesh_to_pixels,
    otsu_thresholds,
    pixel_centres,
    segment_three_classes,
)


def ssim_by_definition(truth, reco, r):
    """The challenge's definition, written out with a dense 2-D kernel and conv2 'same'."""
    ws = math.ceil(2 * r)
    X, Y = np.meshgrid(np.arange(-ws, ws + 1), np.arange(-ws, ws + 1))
    ker = np.exp(-0.5 * (X**2 + Y**2) / r**2) / (r * math.sqrt(2 * math.pi))

    def conv(a):
        return convolve2d(a, ker, mode="same")

    corr = conv(np.ones_like(truth))
    gt, gr = conv(truth) / corr, conv(reco) / corr
    st = conv(truth**2) / corr - gt**2
    sr = conv(reco**2) / corr - gr**2
    str_ = conv(truth * reco) / corr - gt * gr
    c1, c2 = 1e-4, 9e-4
    return np.mean((2 * gt * gr + c1) * (2 * str_ + c2) / ((gt**2 + gr**2 + c1) * (st + sr + c2)))


def test_ktc_ssim_matches_its_definition():
    rng = np.random.default_rng(0)
    a = (rng.random((24, 20)) > 0.7).astype(float)
    b = (rng.random((24, 20)) > 0.6).astype(float)
    assert ktc_ssim(a, b, r=2.5) == pytest.approx(ssim_by_definition(a, b, 2.5), rel=1e-12, abs=1e-14)


def disc_labels(cx, cy, rad, label, base=None):
    img = np.zeros((256, 256), dtype=np.uint8) if base is None else base.copy()
    x, y = pixel_centres(256, 0.115)
    img[(x - cx) ** 2 + (y - cy) ** 2 < rad**2] = label
    return img


def test_ktc_score_properties():
    truth = disc_labels(0.03, 0.03, 0.02, CONDUCTIVE, disc_labels(-0.04, -0.02, 0.025, RESISTIVE))
    assert ktc_score(truth, truth) == pytest.approx(1.0, abs=1e-12)
    water = np.zeros_like(truth)
    moved = disc_labels(0.0, 0.06, 0.02, CONDUCTIVE, disc_labels(-0.04, -0.02, 0.025, RESISTIVE))
    swapped = np.where(truth == 1, 2, np.where(truth == 2, 1, 0)).astype(np.uint8)
    assert ktc_score(truth, swapped) < ktc_score(truth, moved) < 1.0
    assert ktc_score(truth, water) < ktc_score(truth, moved)
    with pytest.raises(ValueError, match="256 x 256"):
        ktc_score(truth, truth[:128])


def test_three_class_otsu_recovers_a_trimodal_image():
    rng = np.random.default_rng(1)
    classes = rng.choice([0, 1, 2], size=(64, 64), p=[0.7, 0.15, 0.15])
    centre = {0: 0.0, 1: -1.0, 2: 1.0}
    delta = np.vectorize(centre.get)(classes) + 0.1 * rng.standard_normal(classes.shape)
    low, high = otsu_thresholds(delta)
    assert -1.0 < low < 0.0 < high < 1.0
    np.testing.assert_array_equal(segment_three_classes(delta), classes)
    # water is the most populous class even when it is the highest one: both others resistive
    lowered = np.where(classes == 2, -2.0, delta)
    assert set(np.unique(segment_three_classes(lowered))) == {WATER, RESISTIVE}
    with pytest.raises(ValueError, match="not all equal"):
        otsu_thresholds(np.zeros(10))


def test_pixel_frame_puts_the_top_of_the_tank_in_row_zero():
    mesh = disk_mesh(Electrodes.equally_spaced(16, 0.5, 0.01), 0.01, radius=0.115)
    centroids = mesh.p[:, mesh.t].mean(axis=1)
    values = ((centroids[0] - 0.0) ** 2 + (centroids[1] - 0.07) ** 2 < 0.02**2).astype(float)
    image = mesh_to_pixels(mesh.p, mesh.t, values, n=64, radius=0.115, outside=-1.0)
    rows, cols = np.nonzero(image == 1.0)
    assert rows.mean() < 20 and abs(cols.mean() - 31.5) < 2  # top centre
    assert image[0, 0] == -1.0 and image[32, 32] == 0.0  # a corner is outside the disk


def test_tank_pixel_images_map_to_the_organisers_frame():
    from invtools.analysis.segmentation import grid_to_pixels, segment_levels

    image = np.zeros((8, 8))
    image[7, 3:5] = 1.0  # the largest y: the top of the tank
    frame = grid_to_pixels(image, 64)
    assert np.isnan(frame[0, 0]) and np.isnan(frame[-1, -1])  # outside the disk
    top = np.nonzero(np.nan_to_num(frame) == 1.0)
    assert top[0].max() < 8 and set(top[1]) == set(range(24, 40))  # row 0 is the top, centred
    labels = segment_levels(np.log(np.array([[3.0, 1.0, 0.3], [np.nan, 2.0, 0.5]])))
    np.testing.assert_array_equal(labels, [[2, 0, 1], [0, 0, 0]])


def test_segment_conductivity_rules():
    from invtools.analysis.segmentation import segment_conductivity

    image = np.full((16, 16), 0.8)
    image[2:5, 2:5], image[10:14, 9:13] = 8.0, 0.08  # a conductor and an insulator in water
    image[0, 0] = np.nan  # outside the domain
    expected = np.zeros((16, 16), dtype=np.uint8)
    expected[2:5, 2:5], expected[10:14, 9:13] = 2, 1
    for rule in ("otsu", "levels"):
        np.testing.assert_array_equal(segment_conductivity(image, 0.8, rule), expected)
    image[image == 8.0] = 1.5  # below a factor e: water by levels, still the top class by Otsu
    assert segment_conductivity(image, 0.8, "levels")[3, 3] == 0
    assert segment_conductivity(image, 0.8, "otsu")[3, 3] == 2
    with pytest.raises(ValueError, match="otsu or levels"):
        segment_conductivity(image, 0.8, "kmeans")
