"""Current (injection) and measurement patterns as matrices over the L electrodes."""

from __future__ import annotations

import numpy as np


def skip_currents(L: int, skip: int = 0, amplitude: float = 1.0) -> np.ndarray:
    """(L, L) patterns: pattern p drives +amplitude into electrode p and out of p + skip + 1."""
    if not 0 <= skip < L - 1:
        raise ValueError(f"skip must be in [0, {L - 2}], got {skip}")
    I = np.zeros((L, L))
    idx = np.arange(L)
    I[idx, idx] = amplitude
    I[idx, (idx + skip + 1) % L] = -amplitude
    return I


def current_patterns(kind: str, L: int, amplitude: float = 1.0) -> np.ndarray:
    """Named current patterns (P, L), each summing to zero.

    ``adjacent`` (L patterns, neighbours), ``opposite`` (L/2 patterns, p and p + L/2),
    ``trigonometric`` (L - 1 patterns, cos/sin of the electrode angle index).
    """
    if kind == "adjacent":
        return skip_currents(L, 0, amplitude)
    if kind == "opposite":
        if L % 2:
            raise ValueError("opposite patterns need an even number of electrodes")
        return skip_currents(L, L // 2 - 1, amplitude)[: L // 2]
    if kind == "trigonometric":
        t = 2 * np.pi * np.arange(L) / L
        rows = [np.cos(k * t) for k in range(1, L // 2 + 1)]
        rows += [np.sin(k * t) for k in range(1, (L - 1) // 2 + 1)]
        return amplitude * np.array(rows)
    raise ValueError(f"unknown current pattern {kind!r}; choose adjacent, opposite, trigonometric")


def adjacent_differences(L: int, skip: int = 0) -> np.ndarray:
    """(L, L) rows ``U_l - U_{l+skip+1}``."""
    M = np.zeros((L, L))
    idx = np.arange(L)
    M[idx, idx] = 1.0
    M[idx, (idx + skip + 1) % L] = -1.0
    return M


def measurement_patterns(kind: str, currents: np.ndarray, skip: int = 0,
                         exclude_driving: bool = False) -> list[np.ndarray]:
    """One (m_p, L) measurement matrix per current pattern.

    ``kind``: ``differences`` (``U_l - U_{l+skip+1}``) or ``potentials`` (raw, grounded).
    ``exclude_driving`` drops rows touching an electrode that carries current in that pattern
    (as in measurement systems that cannot read driving electrodes).
    """
    L = currents.shape[1]
    if kind == "potentials":
        base = np.eye(L)
    elif kind == "differences":
        base = adjacent_differences(L, skip)
    else:
        raise ValueError(f"unknown measurement pattern {kind!r}; choose differences or potentials")
    out = []
    for I in currents:
        keep = np.ones(L, dtype=bool)
        if exclude_driving:
            keep = ~np.any((base != 0) & (np.abs(I) > 0)[None, :], axis=1)
        out.append(base[keep])
    return out


def resolve_patterns(L: int, currents: str | np.ndarray, measurements: str | np.ndarray | list | None,
                     exclude_driving: bool = False) -> tuple[np.ndarray, np.ndarray | list | None]:
    """(currents (P, L), measurements) from names (:func:`current_patterns`,
    :func:`measurement_patterns`) or explicit arrays, as every CEM constructor takes them."""
    I = current_patterns(currents, L) if isinstance(currents, str) else np.asarray(currents, dtype=np.float64)
    M = (measurement_patterns(measurements, I, exclude_driving=exclude_driving)
         if isinstance(measurements, str) else measurements)
    return I, M
