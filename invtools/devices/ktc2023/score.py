"""The challenge's score of a three-class label image: an SSIM under a wide Gaussian window,
averaged over the indicator images of the conductive and the resistive class."""

from __future__ import annotations

import math

import numpy as np

KTC_SSIM_C1, KTC_SSIM_C2 = 1e-4, 9e-4


def ktc_ssim(truth: np.ndarray, reco: np.ndarray, r: float = 80.0) -> float:
    """The challenge's SSIM of two images (H, W): local means and (co)variances under a Gaussian
    window of standard deviation ``r`` pixels, truncated at ``ceil(2 r)``, zero padding
    normalised by the window mass inside the image; the mean of the SSIM map."""
    from scipy.ndimage import convolve1d

    if truth.shape != reco.shape:
        raise ValueError(f"images of different shapes {truth.shape} and {reco.shape}")
    half = math.ceil(2 * r)
    t = np.arange(-half, half + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * t**2 / r**2)

    def smooth(a: np.ndarray) -> np.ndarray:
        return convolve1d(convolve1d(a, kernel, axis=0, mode="constant"), kernel, axis=1, mode="constant")

    a, b = np.asarray(truth, dtype=np.float64), np.asarray(reco, dtype=np.float64)
    mass = smooth(np.ones_like(a))
    ma, mb = smooth(a) / mass, smooth(b) / mass
    va, vb = smooth(a * a) / mass - ma**2, smooth(b * b) / mass - mb**2
    cab = smooth(a * b) / mass - ma * mb
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
