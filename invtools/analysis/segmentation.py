"""Three-class segmentation of conductivity images, and the pixel frame of label images.

Label images have three classes: 0 water (background), 1 resistive, 2 conductive.
Pixel frame: an N x N grid of square pixels over ``[-radius, radius]^2``, row 0 at the top
(largest y), column 0 at the left (smallest x); pixels outside the disk are water.
"""

from __future__ import annotations

import numpy as np

WATER, RESISTIVE, CONDUCTIVE = 0, 1, 2
CLASS_NAMES = ("background", "resistive", "conductive")  # labels 0, 1, 2 (a device names its own)
LABEL_COLOURS = ("#d9e8f5", "#3b4cc0", "#b40426")  # water, resistive, conductive (figures)
CALIBRATED_LEVEL = 1.0  # |log(sigma / sigma0)| above which a calibrated image's pixel is an inclusion


def otsu_thresholds(values: np.ndarray, classes: int = 3, bins: int = 256) -> np.ndarray:
    """The ``classes - 1`` thresholds that maximise the between-class variance of a histogram
    of ``values`` with ``bins`` bins (multi-level Otsu, exhaustive over bin edges)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() == values.max():
        raise ValueError("Otsu thresholds need values that are finite and not all equal")
    if classes not in (2, 3):
        raise ValueError(f"classes must be 2 or 3, got {classes}")
    counts, edges = np.histogram(values, bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    p = counts / counts.sum()
    w = np.concatenate([[0.0], np.cumsum(p)])            # mass of bins [0, k)
    m = np.concatenate([[0.0], np.cumsum(p * centres)])  # first moment of bins [0, k)

    def between(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # sum over classes [a, b)
        wc, mc = w[b] - w[a], m[b] - m[a]
        return np.where(wc > 0, mc**2 / np.where(wc > 0, wc, 1.0), 0.0)

    if classes == 2:
        k = np.arange(1, bins)
        best = np.argmax(between(0 * k, k) + between(k, bins + 0 * k))
        return np.array([edges[k[best]]])
    i, j = np.triu_indices(bins + 1, k=1)
    keep = (i >= 1) & (j <= bins - 1)
    i, j = i[keep], j[keep]
    score = between(0 * i, i) + between(i, j) + between(j, bins + 0 * j)
    best = np.argmax(score)
    return np.array([edges[i[best]], edges[j[best]]])


def segment_three_classes(delta: np.ndarray, bins: int = 256) -> np.ndarray:
    """Labels (same shape) of a difference image ``sigma - sigma0`` by three-class Otsu: the most
    populous class is water, lower values resistive, higher conductive. NaN (outside the
    domain) is water."""
    delta = np.asarray(delta, dtype=np.float64)
    inside = np.isfinite(delta)
    low, high = otsu_thresholds(delta[inside], 3, bins)
    cls = np.digitize(delta, [low, high])  # 0 below, 1 between, 2 above
    water = int(np.argmax(np.bincount(cls[inside].ravel(), minlength=3)))
    labels = np.full(delta.shape, WATER, dtype=np.uint8)
    labels[(cls < water) & inside] = RESISTIVE
    labels[(cls > water) & inside] = CONDUCTIVE
    return labels


def contrast_labels(delta: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Labels of a known contrast image ``sigma - background``: conductive above ``tol``,
    resistive below ``-tol``, water otherwise (for ground truths of simulated phantoms)."""
    delta = np.asarray(delta)
    labels = np.full(delta.shape, WATER, dtype=np.uint8)
    labels[delta > tol] = CONDUCTIVE
    labels[delta < -tol] = RESISTIVE
    return labels


def pixel_centres(n: int = 256, radius: float = 0.115) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (n, n) of the pixel centres in the pixel frame (row 0 at the top)."""
    c = (np.arange(n) + 0.5) / n * 2 * radius - radius
    x, y = np.meshgrid(c, c[::-1])
    return x, y


def inside_frame_disk(n: int = 256) -> np.ndarray:
    """(n, n) bool: the pixels of the n x n frame whose centres lie in the disk inscribed in it
    (a disk domain)."""
    x, y = pixel_centres(n, 1.0)
    return x**2 + y**2 <= 1.0


def mesh_to_pixels(points: np.ndarray, triangles: np.ndarray, values: np.ndarray, n: int = 256,
                   radius: float = 0.115, outside: float = np.nan) -> np.ndarray:
    """Element values (ne,) of a triangle mesh (points (2, N) in metres, triangles (3, ne))
    sampled at the pixel centres of the pixel frame: (n, n), ``outside`` where no triangle is."""
    from matplotlib.tri import Triangulation

    tri = Triangulation(points[0], points[1], np.asarray(triangles).T)
    x, y = pixel_centres(n, radius)
    which = np.asarray(tri.get_trifinder()(x, y))
    image = np.full((n, n), outside, dtype=np.float64)
    inside = which >= 0
    image[inside] = np.asarray(values, dtype=np.float64)[which[inside]]
    return image


def grid_to_pixels(image: np.ndarray, n: int = 256, outside: float = np.nan) -> np.ndarray:
    """An N x N image over ``[-radius, radius]^2`` with the row index growing with y (the
    image model of ``PixelCEMForward``) in the pixel frame of n x n (row 0 at the top):
    each frame pixel takes the value of the image pixel around its centre; ``outside`` beyond
    the disk inscribed in the square."""
    image = np.asarray(image, dtype=np.float64)
    N = image.shape[-1]
    x, y = pixel_centres(n, 1.0)
    col = np.clip(((x + 1) / 2 * N).astype(int), 0, N - 1)
    row = np.clip(((y + 1) / 2 * N).astype(int), 0, N - 1)
    out = image[..., row, col]
    return np.where(inside_frame_disk(n), out, outside)


def segment_levels(log_contrast: np.ndarray, threshold: float = CALIBRATED_LEVEL) -> np.ndarray:
    """Labels of a log-contrast image ``log(sigma / sigma0)`` by fixed levels: conductive above
    ``threshold``, resistive below ``-threshold`` (for images whose values are calibrated, e.g. a
    trained network's; a factor e = 2.7 by default)."""
    return contrast_labels(np.nan_to_num(np.asarray(log_contrast, dtype=np.float64)), threshold)


def segment_conductivity(image: np.ndarray, sigma0: float, rule: str) -> np.ndarray:
    """Labels of a conductivity image (S/m, NaN outside the domain) around the water's sigma0:
    ``otsu``, three-class Otsu on ``sigma - sigma0`` (for images whose values are not
    calibrated); ``levels``, fixed levels of ``log(sigma / sigma0)`` at
    :data:`CALIBRATED_LEVEL` (a factor e), for calibrated images."""
    if rule == "otsu":
        return segment_three_classes(image - sigma0)
    if rule == "levels":
        return segment_levels(np.log(np.clip(image, 1e-12, None) / sigma0))
    raise ValueError(f"unknown segmentation rule {rule!r}; choose otsu or levels")
