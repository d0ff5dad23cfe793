"""The challenge's score of a three-class label image: an SSIM under a wide Gaussian window,
averaged over the indicator images of the conductive and the resistive class."""

from __future__ import annotations

import functools
import math

import numpy as np

KTC_SSIM_C1, KTC_SSIM_C2 = 1e-4, 9e-4


@functools.lru_cache(maxsize=8)
def gaussian_window(n: int, r: float) -> np.ndarray:
    """(n, n) matrix of the challenge's 1-D window on n pixels: ``W[i, m] = exp(-(i - m)^2 /
    (2 r^2))`` for ``|i - m| <= ceil(2 r)``, else 0, so that ``W @ a`` is the zero-padded
    correlation of each column of a (n, k) with the truncated Gaussian."""
    d = np.subtract.outer(np.arange(n), np.arange(n)).astype(np.float64)
    w = np.where(np.abs(d) <= math.ceil(2 * r), np.exp(-0.5 * d**2 / r**2), 0.0)
    w.setflags(write=False)
    return w


def ktc_ssim(truth: np.ndarray, reco: np.ndarray, r: float = 80.0) -> float:
    """The challenge's SSIM of two images (H, W): local means and (co)variances under a Gaussian
    window of standard deviation ``r`` pixels, truncated at ``ceil(2 r)``, zero padding
    normalised by the window mass inside the image; the mean of the SSIM map. The separable
    window is applied as two matrix products (:func:`gaussian_window`) for all five local
    moments at once; the window mass is the outer product of its row and column sums."""
    a, b = np.asarray(truth, dtype=np.float64), np.asarray(reco, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ktc_ssim compares two 2-D images of one shape, got {a.shape} and {b.shape}")
    (H, W), k = a.shape, 5
    rows, cols = gaussian_window(H, r), gaussian_window(W, r)
    stacked = np.stack([a, b, a * a, b * b, a * b], axis=1).reshape(H, k * W)  # (H, 5 W)
    left = (rows @ stacked).reshape(H, k, W).transpose(1, 0, 2).reshape(k * H, W)
    moments = (left @ cols.T).reshape(k, H, W) / np.outer(rows.sum(axis=1), cols.sum(axis=1))
    ma, mb = moments[0], moments[1]
    va, vb = moments[2] - ma**2, moments[3] - mb**2
    cab = moments[4] - ma * mb
    c1, c2 = KTC_SSIM_C1, KTC_SSIM_C2
    ssim_map = (2 * ma * mb + c1) * (2 * cab + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(ssim_map.mean())


def ktc_score(truth: np.ndarray, reco: np.ndarray) -> float:
    """The KTC2023 score of a label image (256, 256): 0 water, 1 resistive, 2 conductive;
    the mean of :func:`ktc_ssim` over the indicator images of classes 2 and 1 (1.0 = perfect)."""
    truth, reco = np.asarray(truth), np.asarray(reco)
    if truth.shape != (256, 256) or reco.shape != (256, 256):
        raise ValueError(f"KTC2023 label images are 256 x 256, got {truth.shape} and {reco.shape}")
    return 0.5 * sum(ktc_ssim((truth == c).astype(float), (reco == c).astype(float)) for c in (2, 1))
