"""The challenge's score (invtools/devices/ktc2023/score.py): its SSIM against the definition
written out with a dense kernel, and the score's order on moved and swapped inclusions."""

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

from invtools.analysis.segmentation import CONDUCTIVE, RESISTIVE, pixel_centres
from invtools.devices.ktc2023.score import ktc_score, ktc_ssim


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
    with pytest.raises(ValueError, match="2-D images of one shape"):
        ktc_ssim(a, b.T)
    with pytest.raises(ValueError, match="2-D images of one shape"):
        ktc_ssim(a[None], b[None])


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
