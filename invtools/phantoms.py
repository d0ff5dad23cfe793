"""Random ground truths for synthetic data sets."""

from __future__ import annotations

import numpy as np


def random_walk_signals(n_samples: int, length: int, rng: np.random.Generator,
                        step: float = 0.1, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Gaussian random walks (n_samples, length) reflected into ``[low, high]``.

    Starts are uniform on the interval and steps N(0, step^2); reflecting at both ends keeps
    the signals non-negative intensities (for ``low >= 0``) with no drift.
    """
    width = high - low
    start = rng.uniform(0.0, width, size=(n_samples, 1))
    walk = np.concatenate([start, start + np.cumsum(
        step * rng.standard_normal((n_samples, length - 1)), axis=1)], axis=1)
    folded = np.mod(walk, 2 * width)
    return low + np.where(folded > width, 2 * width - folded, folded)


def disc_phantom(points: np.ndarray, discs: list[tuple[float, float, float, float]],
                 background: float = 1.0) -> np.ndarray:
    """Piecewise-constant values at ``points`` (2, n): ``background`` outside the discs and
    ``value`` inside each disc ``(cx, cy, radius, value)`` (later discs on top)."""
    out = np.full(points.shape[1], float(background))
    for cx, cy, r, value in discs:
        out[(points[0] - cx) ** 2 + (points[1] - cy) ** 2 < r**2] = value
    return out
