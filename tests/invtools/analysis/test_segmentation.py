"""Three-class Otsu segmentation and the pixel frame of label images."""

import numpy as np
import pytest

from forward_models.eit import Electrodes, disk_mesh
from invtools.analysis.segmentation import (
    RESISTIVE,
    WATER,
    mesh_to_pixels,
    otsu_thresholds,
    segment_three_classes,
)


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
