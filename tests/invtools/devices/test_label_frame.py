"""The label frame: resampling label images to a device's frame, and fitting the frame to the
measured change of known targets."""

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes
from invtools.analysis.segmentation import pixel_centres
from invtools.devices.label_frame import (
    best_scale,
    frame_labels,
    frame_misfit,
    truth_conductivity,
)


def disc_labels(n: int, discs: list[tuple[float, float, float, int]]) -> np.ndarray:
    """(n, n) labels (row 0 at the top) of discs (x, y, r, class) in units of the half-width."""
    x, y = pixel_centres(n, 1.0)
    out = np.zeros((n, n), dtype=np.uint8)
    for cx, cy, r, c in discs:
        out[(x - cx) ** 2 + (y - cy) ** 2 <= r * r] = c
    return out


def test_a_frame_s_times_the_image_shrinks_objects_by_one_over_s():
    labels = disc_labels(256, [(0.2, -0.1, 0.4, 2)])
    framed = frame_labels(labels, 1.25)
    assert framed.dtype == labels.dtype and framed.shape == labels.shape
    assert (framed == 2).sum() / (labels == 2).sum() == pytest.approx(1 / 1.25**2, rel=0.02)
    # the centre moves to (0.2, -0.1) / 1.25: the framed disc is the disc of the shrunk geometry
    expected = disc_labels(256, [(0.16, -0.08, 0.32, 2)])
    assert (framed != expected).mean() < 0.005


def test_frame_one_is_the_identity_and_pixels_beyond_the_image_are_background():
    labels = np.ones((2, 64, 64), dtype=np.uint8)
    assert frame_labels(labels, 1.0) is labels
    framed = frame_labels(labels, 2.0)  # the image fills the middle half of the frame
    assert framed.shape == (2, 64, 64)
    assert framed.mean() == pytest.approx(0.25) and framed[:, 16:48, 16:48].all()


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_scale_is_refused(scale):
    with pytest.raises(ValueError, match="label frame's scale must be a finite number > 0"):
        frame_labels(np.zeros((8, 8), dtype=np.uint8), scale)


def test_labels_that_are_not_square_images_are_refused():
    with pytest.raises(ValueError, match=r"must be square \(..., n, n\), got \(8, 9\)"):
        frame_labels(np.zeros((8, 9), dtype=np.uint8), 1.1)


def test_a_truth_takes_saturated_conductivities_where_its_classes_are():
    truth = disc_labels(64, [(0.5, 0.0, 0.3, 2), (-0.5, 0.0, 0.3, 1)])
    points = np.array([[0.5, -0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.9]]) * 2.0  # extent 2 m
    sigma = truth_conductivity(truth, points, extent=2.0, scale=1.0, sigma0=0.8)
    np.testing.assert_allclose(sigma, [800.0, 8e-4, 0.8, 0.8])
    # on a frame four times the image's, the same points fall inside neither disc
    np.testing.assert_allclose(truth_conductivity(truth, points, 2.0, 4.0, 0.8), 0.8)


def test_the_fit_recovers_the_frame_the_change_was_simulated_on():
    op = CEMForward.on_disk(Electrodes.equally_spaced(16, 0.5, 0.01), 0.1)
    points = op.mesh.p[:, op.mesh.t].mean(axis=1)
    truths = [disc_labels(128, [(0.3, 0.2, 0.3, 2), (-0.4, -0.3, 0.25, 1)]),
              disc_labels(128, [(0.0, -0.4, 0.35, 1)])]
    with torch.no_grad():
        water = op(torch.full((1, op.n_in), 0.8, dtype=torch.float64))[0].numpy()
        sigma = np.stack([truth_conductivity(t, points, 1.0, 1.1, 0.8) for t in truths])
        measured = op(torch.as_tensor(sigma)).numpy()
    drift = np.array([0.03, -0.05])  # the water changed between the reference and the data
    references = np.stack([water, water])
    changes = measured - water + drift[:, None] * water
    scales = [1.0, 1.05, 1.1, 1.15]
    misfit = frame_misfit(op, points, 1.0, truths, changes, references, 0.8, scales)
    assert misfit.shape == (2, 4)
    assert np.all(np.argmin(misfit, axis=1) == 2) and misfit[:, 2].max() < 1e-10
    assert misfit[:, 0].min() > 0.05
    assert best_scale(scales, misfit) == 1.1 and best_scale(scales, misfit, leave_out=0) == 1.1


def test_best_scale_leaves_a_target_out():
    misfit = np.array([[0.0, 0.5, 0.5], [0.3, 0.1, 0.3], [0.3, 0.1, 0.3]])
    assert best_scale([1.0, 1.1, 1.2], misfit) == 1.0  # summed squares 0.18, 0.27, 0.43
    assert best_scale([1.0, 1.1, 1.2], misfit, leave_out=0) == 1.1


def test_changes_of_the_wrong_shape_are_refused():
    op = CEMForward.on_disk(Electrodes.equally_spaced(8, 0.5, 0.01), 0.3)
    points = op.mesh.p[:, op.mesh.t].mean(axis=1)
    with pytest.raises(ValueError, match=r"must be \(T, m\) for the 2 truths"):
        frame_misfit(op, points, 1.0, [np.zeros((8, 8))] * 2, np.zeros((1, op.n_out)),
                     np.zeros((1, op.n_out)), 1.0, [1.0])
