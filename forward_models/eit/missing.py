"""Which measurements are lost when electrodes fail: masks over the data of a CEM experiment.

Data are injection-major, as in :class:`~forward_models.eit.forward.CEMForward` with one
measurement matrix for every injection: value ``p * k + j`` is measurement row ``j`` (of the
(k, L) matrix) during injection ``p`` (of the (P, L) currents). A failed electrode can neither
drive current nor be read: every injection that drives it loses all its values, and every
measurement row that involves it is lost in the other injections (the KTC2023 rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Patterns = np.ndarray | Sequence[np.ndarray]  # one (k, L) measurement matrix, or one per injection

KTC_LEVELS = tuple(range(1, 8))  # the challenge's difficulty levels


def electrode_mask(currents: np.ndarray, measurement: Patterns,
                   removed: Iterable[int]) -> np.ndarray:
    """(m,) bool, True where a value survives the loss of the electrodes ``removed`` (0-based),
    for currents (P, L) and one measurement matrix (k, L) for every injection, or a list of P
    matrices (k_p, L), one per injection (m = sum of k_p)."""
    currents = np.asarray(currents)
    P, L = currents.shape
    matrices = ([np.asarray(measurement)] * P if np.ndim(measurement) == 2
                else [np.asarray(m) for m in measurement])
    if len(matrices) != P:
        raise ValueError(f"{len(matrices)} measurement matrices for {P} injections")
    removed = np.asarray(sorted(set(int(e) for e in removed)), dtype=int)
    if removed.size and (removed.min() < 0 or removed.max() >= L):
        raise ValueError(f"removed electrodes {removed.tolist()} are not in 0..{L - 1}")
    dead = np.zeros(L, dtype=bool)
    dead[removed] = True
    injection_ok = ~(currents[:, dead] != 0).any(axis=1)  # (P,)
    return np.concatenate([injection_ok[p] & ~(m[:, dead] != 0).any(axis=1) for p, m in enumerate(matrices)])


def level_electrodes(level: int) -> list[int]:
    """The electrodes (0-based) that KTC2023 level ``level`` removes: 1 .. 2(level - 1), 1-based."""
    if level not in KTC_LEVELS:
        raise ValueError(f"KTC2023 level must be one of {list(KTC_LEVELS)}, got {level!r}")
    return list(range(2 * (level - 1)))


def level_mask(currents: np.ndarray, measurement: Patterns, level: int) -> np.ndarray:
    """(P k,) bool: the values KTC2023 level ``level`` keeps (level 1 keeps all)."""
    return electrode_mask(currents, measurement, level_electrodes(level))


def level_of_mask(currents: np.ndarray, measurement: Patterns, mask: np.ndarray | None) -> int | None:
    """The KTC2023 level whose mask ``mask`` is (None: complete data, level 1), else None."""
    if mask is None:
        return 1
    for level in KTC_LEVELS:
        if np.array_equal(level_mask(currents, measurement, level), np.asarray(mask, dtype=bool)):
            return level
    return None


def random_electrode_mask(currents: np.ndarray, measurement: Patterns, rng: np.random.Generator,
                          count: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """A mask of ``count[0]``..``count[1]`` failed electrodes anywhere (uniform count, then a
    uniform subset), and the electrodes (0-based)."""
    L = np.asarray(currents).shape[1]
    n = int(rng.integers(count[0], count[1] + 1))
    removed = sorted(int(e) for e in rng.choice(L, size=n, replace=False))
    return electrode_mask(currents, measurement, removed), removed


def random_dropout_mask(size: int, rng: np.random.Generator, fraction: tuple[float, float]) -> np.ndarray:
    """(size,) bool: single values dropped at random, a fraction uniform in ``fraction``."""
    p = rng.uniform(*fraction)
    return rng.uniform(size=size) >= p
