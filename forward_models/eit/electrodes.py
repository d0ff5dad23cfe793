"""Electrodes on the boundary of a disk, described by centre angles and angular widths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Electrodes:
    """``L`` electrodes on a circle.

    Attributes:
        centers: (L,) centre angles in radians, counter-clockwise from the x axis.
        widths: (L,) angular widths in radians (an electrode spans ``center +- width/2``).
        contact_impedance: (L,) contact impedances z_l > 0 (Ohm m in 2-D, i.e. Ohm m^2 per
            metre of depth).
    """

    centers: np.ndarray
    widths: np.ndarray
    contact_impedance: np.ndarray

    def __post_init__(self) -> None:
        c = np.atleast_1d(np.asarray(self.centers, dtype=np.float64)) % TWO_PI
        L = c.size
        w = np.broadcast_to(np.asarray(self.widths, dtype=np.float64), (L,)).copy()
        z = np.broadcast_to(np.asarray(self.contact_impedance, dtype=np.float64), (L,)).copy()
        if L < 2:
            raise ValueError(f"need at least 2 electrodes, got {L}")
        if not (np.all(w > 0) and np.all(np.isfinite(w))):
            raise ValueError("electrode widths must be positive and finite")
        if not (np.all(z > 0) and np.all(np.isfinite(z))):
            raise ValueError("contact impedances must be positive and finite")
        order = np.argsort(c)
        gaps = np.diff(np.append(c[order], c[order[0]] + TWO_PI)) - 0.5 * (w[order] + np.roll(w[order], -1))
        if np.any(gaps <= 1e-12):
            raise ValueError("electrodes overlap or touch; reduce widths or move centres")
        object.__setattr__(self, "centers", c)
        object.__setattr__(self, "widths", w)
        object.__setattr__(self, "contact_impedance", z)

    @property
    def L(self) -> int:
        return self.centers.size

    @property
    def coverage(self) -> float:
        """Fraction of the circle covered by electrodes."""
        return float(self.widths.sum() / TWO_PI)

    def intervals(self) -> np.ndarray:
        """(L, 2) start and end angles, ``start`` in [0, 2 pi), ``end = start + width``."""
        start = (self.centers - 0.5 * self.widths) % TWO_PI
        return np.stack([start, start + self.widths], axis=1)

    @classmethod
    def equally_spaced(cls, L: int, coverage: float = 0.5, z: float | np.ndarray = 0.01,
                       offset: float = 0.0) -> Electrodes:
        """``L`` equal electrodes around the full circle covering ``coverage`` of it."""
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        centers = offset + TWO_PI * np.arange(L) / L
        return cls(centers, np.full(L, coverage * TWO_PI / L), z)

    @classmethod
    def on_arc(cls, L: int, arc: tuple[float, float], coverage: float = 0.5,
               z: float | np.ndarray = 0.01) -> Electrodes:
        """``L`` equal electrodes on the arc ``arc = (start, end)`` (radians, counter-clockwise),
        covering ``coverage`` of the arc (limited-view EIT)."""
        a0, a1 = arc
        length = (a1 - a0) % TWO_PI or TWO_PI
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        pitch = length / L
        centers = a0 + pitch * (np.arange(L) + 0.5)
        return cls(centers, np.full(L, coverage * pitch), z)

    def config(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists ``centers``, ``widths``, ``contact_impedance``) from
        which :meth:`from_config` rebuilds the electrodes."""
        return {"centers": self.centers.tolist(), "widths": self.widths.tolist(),
                "contact_impedance": self.contact_impedance.tolist()}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Electrodes:
        """Rebuild electrodes from the dict :meth:`config` returns."""
        return cls(np.asarray(cfg["centers"]), np.asarray(cfg["widths"]),
                   np.asarray(cfg["contact_impedance"]))
