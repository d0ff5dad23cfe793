"""Random ground truths for synthetic data sets."""

from __future__ import annotations

import numpy as np


def random_walk_signals(n_samples: int, length: int, rng: np.random.Generator,
                        step: float = 0.1) -> np.ndarray:
    """Gaussian random walks ``(n_samples, length)`` starting at N(0, 1/4), steps N(0, step^2)."""
    start = 0.5 * rng.standard_normal((n_samples, 1))
    steps = step * rng.standard_normal((n_samples, length - 1))
    return np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1)


def disc_phantom(points: np.ndarray, discs: list[tuple[float, float, float, float]],
                 background: float = 1.0) -> np.ndarray:
    """Piecewise-constant values at ``points`` (2, n): ``background`` outside the discs and
    ``value`` inside each disc ``(cx, cy, radius, value)`` (later discs on top)."""
    out = np.full(points.shape[1], float(background))
    for cx, cy, r, value in discs:
        out[(points[0] - cx) ** 2 + (points[1] - cy) ** 2 < r**2] = value
    return out
