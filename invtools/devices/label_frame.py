"""The label frame of a device: where its truth images put the objects, relative to the model.

A device's truths (the KTC2023 organisers' label images) are drawn on a square frame; a
reconstruction's labels are made on the image's own square. In 2-D the data do not change when
the whole tank is scaled, so the homogeneous reference cannot say how large the truths' frame is
relative to the electrode ring: only measurements of known objects can. With ``scale`` s, the
frame covers s times the image's square:

    label_in_frame(p) = label_on_image(s p)       p: a pixel centre, in units of the half-width

:func:`frame_labels` resamples label images to the frame (objects shrink by 1 / s), and
:func:`frame_misfit` measures, for every candidate s, how well the model explains the measured
change of known targets: the truths drawn on a frame s times the image's, at saturated contrast,
simulated, and compared with the measured change after the best uniform drift of the water
(a multiple of the reference). :func:`best_scale` picks the s of least summed squared misfit.
"""

from __future__ import annotations

import numpy as np
import torch

from invtools.analysis.segmentation import pixel_centres
from invtools.operators import Operator

SATURATED = 1e3  # contrast of a truth's classes: conductive x1e3, resistive /1e3 (metal, plastic)


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"the label frame's scale must be a finite number > 0, got {scale}")
    return scale


def frame_labels(labels: np.ndarray, scale: float) -> np.ndarray:
    """Label images (..., n, n) on the image's square, resampled (nearest pixel) to a frame
    ``scale`` times that square: objects shrink by 1 / scale about the centre; frame pixels
    beyond the image are class 0 (the background). ``scale`` 1 returns the labels unchanged."""
    scale = _check_scale(scale)
    labels = np.asarray(labels)
    if labels.ndim < 2 or labels.shape[-1] != labels.shape[-2]:
        raise ValueError(f"label images must be square (..., n, n), got {labels.shape}")
    if scale == 1.0:
        return labels
    n = labels.shape[-1]
    x, y = pixel_centres(n, scale)  # in units of the image's half-width
    col, row = np.floor((x + 1) / 2 * n).astype(int), np.floor((1 - y) / 2 * n).astype(int)
    inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
    out = np.zeros_like(labels)
    out[..., inside] = labels[..., row[inside], col[inside]]
    return out


def truth_conductivity(truth: np.ndarray, points: np.ndarray, extent: float, scale: float,
                       sigma0: float, contrast: float = SATURATED) -> np.ndarray:
    """Conductivities (ne,) S/m at ``points`` (2, ne) (m, e.g. element centroids) of a truth
    label image (n, n) (0 water, 1 resistive, 2 conductive; row 0 at the top) drawn on a frame
    of half-width ``scale * extent``: water sigma0, resistive sigma0 / contrast, conductive
    sigma0 * contrast."""
    truth = np.asarray(truth)
    n = truth.shape[-1]
    half = _check_scale(scale) * extent
    col = np.clip(np.floor((points[0] / half + 1) / 2 * n).astype(int), 0, n - 1)
    row = np.clip(np.floor((1 - points[1] / half) / 2 * n).astype(int), 0, n - 1)
    label = truth[row, col]
    sigma = np.full(points.shape[1], float(sigma0))
    sigma[label == 1] = sigma0 / contrast
    sigma[label == 2] = sigma0 * contrast
    return sigma


def frame_misfit(op: Operator, points: np.ndarray, extent: float, truths: list[np.ndarray],
                 changes: np.ndarray, references: np.ndarray, sigma0: float, scales) -> np.ndarray:
    """Relative misfit (T, S) of the measured changes ``changes`` (T, m) (data minus reference,
    the reference ``references`` (T, m)) of T known targets against the model's change
    ``op(truth) - op(water)`` for each frame scale in ``scales`` (S,): after removing the best
    multiple of the reference (a uniform drift of the water between the two measurements),
    ``|dy - dm - c y_ref| / |dy|``. ``op`` maps element conductivities (B, ne) at ``points``."""
    changes, references = np.atleast_2d(changes), np.atleast_2d(references)
    if changes.shape != references.shape or changes.shape[0] != len(truths):
        raise ValueError(f"changes {changes.shape} and references {references.shape} must be (T, m) "
                         f"for the {len(truths)} truths")
    with torch.no_grad():
        water = op(torch.full((1, points.shape[1]), float(sigma0), dtype=torch.float64))[0].numpy()
    out = np.empty((len(truths), len(scales)))
    for j, scale in enumerate(scales):
        sigma = np.stack([truth_conductivity(t, points, extent, scale, sigma0) for t in truths])
        with torch.no_grad():
            model = op(torch.as_tensor(sigma)).numpy() - water
        for i, (dy, ref, dm) in enumerate(zip(changes, references, model, strict=True)):
            rest = dy - dm
            drift = rest @ ref / (ref @ ref)
            out[i, j] = np.linalg.norm(rest - drift * ref) / np.linalg.norm(dy)
    return out


def best_scale(scales, misfit: np.ndarray, leave_out: int | None = None) -> float:
    """The scale of least summed squared misfit over the targets (rows of ``misfit`` (T, S)),
    without target ``leave_out`` if given (for a leave-one-target-out check)."""
    rows = [i for i in range(misfit.shape[0]) if i != leave_out]
    return float(np.asarray(scales)[np.argmin((misfit[rows] ** 2).sum(axis=0))])
