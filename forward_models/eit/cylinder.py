"""3-D tanks: a cylinder with rectangular electrode patches in one or more rings, meshed with
tetrahedra by extruding the disk mesh (so every patch edge is a mesh edge: conforming
electrodes, no mesh generator needed). Top and bottom are insulated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from skfem import MeshTet

from forward_models.eit.electrodes import TWO_PI, Electrodes
from forward_models.eit.mesh import disk_mesh


@dataclass(frozen=True)
class CylinderElectrodes:
    """Rings of rectangular electrodes on the wall of a cylinder (axis z, base at z = 0).

    Attributes:
        ring: the angular layout of one ring (centre angles, angular widths); its contact
            impedance (Ohm m^2) is used for every ring unless ``contact_impedance`` is given.
        heights: (R,) centre heights of the rings (m).
        electrode_height: height of every electrode (m).
        contact_impedance: optional (R * L,) per electrode, ring-major.

    Electrodes are numbered ring by ring: electrode ``r * L + l`` is electrode l of ring r.
    """

    ring: Electrodes
    heights: tuple[float, ...]
    electrode_height: float
    contact_impedance: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        h = tuple(float(v) for v in np.atleast_1d(self.heights))
        object.__setattr__(self, "heights", h)
        if not (self.electrode_height > 0 and np.isfinite(self.electrode_height)):
            raise ValueError(f"electrode_height must be > 0, got {self.electrode_height}")
        gaps = np.diff(np.sort(h))
        if np.any(gaps <= self.electrode_height):
            raise ValueError("electrode rings overlap: ring spacing must exceed electrode_height")
        if self.contact_impedance is not None:
            z = tuple(float(v) for v in self.contact_impedance)
            if len(z) != self.L or min(z) <= 0:
                raise ValueError(f"contact_impedance needs {self.L} positive values")
            object.__setattr__(self, "contact_impedance", z)

    @property
    def L(self) -> int:
        return self.ring.L * len(self.heights)

    @property
    def z(self) -> np.ndarray:
        """(L,) contact impedances, ring-major."""
        if self.contact_impedance is not None:
            return np.asarray(self.contact_impedance)
        return np.tile(self.ring.contact_impedance, len(self.heights))

    def config(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the ring's :meth:`Electrodes.config`, heights, electrode
        height, contact impedances or None) from which :meth:`from_config` rebuilds the rings."""
        return {"ring": self.ring.config(), "heights": list(self.heights),
                "electrode_height": self.electrode_height,
                "contact_impedance": None if self.contact_impedance is None else list(self.contact_impedance)}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CylinderElectrodes:
        """Rebuild the electrode rings from the dict :meth:`config` returns."""
        z = cfg.get("contact_impedance")
        return cls(Electrodes.from_config(cfg["ring"]), tuple(cfg["heights"]), cfg["electrode_height"],
                   None if z is None else tuple(z))


def z_levels(height: float, breaks: list[float], h: float) -> np.ndarray:
    """Sorted heights of the mesh layers: 0, ``height``, every break, and fill at spacing ~h."""
    b = np.unique(np.clip(np.concatenate([[0.0, height], breaks]), 0.0, height))
    fill = [lo + (hi - lo) * np.arange(n) / n for lo, hi in zip(b[:-1], b[1:], strict=True)
            for n in [max(1, int(np.ceil((hi - lo) / h)))]]
    return np.append(np.concatenate(fill), height)


def extrude(p2: np.ndarray, t2: np.ndarray, levels: np.ndarray) -> MeshTet:
    """Tetrahedral mesh of the prisms over triangles (p2 (2, N), t2 (3, ne)) between the
    ``levels``: each prism is cut into 3 tetrahedra by the rule of the sorted node numbers,
    so neighbouring prisms cut their shared faces along the same diagonal (a conforming mesh)."""
    N, K = p2.shape[1], len(levels)
    p = np.concatenate([np.vstack([p2, np.full(N, z)]) for z in levels], axis=1)
    a, b, c = np.sort(t2, axis=0)
    tets = []
    for k in range(K - 1):
        lo, hi = k * N, (k + 1) * N
        tets += [np.stack([a + lo, b + lo, c + lo, a + hi]), np.stack([b + lo, c + lo, a + hi, b + hi]),
                 np.stack([c + lo, a + hi, b + hi, c + hi])]
    return MeshTet(p, np.concatenate(tets, axis=1))


def cylinder_mesh(electrodes: CylinderElectrodes, radius: float, height: float, mesh_size: float,
                  edge_levels: int = 0) -> MeshTet:
    """Tetrahedral mesh of the cylinder of ``radius`` and ``height`` (m), element size ~``mesh_size``:
    the disk mesh of the ring's angular layout (``edge_levels`` rounds of refinement near the
    electrodes' vertical edges) extruded through layers that include every electrode's top and
    bottom."""
    if not 0 < max(h + electrodes.electrode_height / 2 for h in electrodes.heights) <= height or \
            min(electrodes.heights) - electrodes.electrode_height / 2 < 0:
        raise ValueError(f"electrodes must lie within the wall, 0 <= z <= height = {height}")
    base = disk_mesh(electrodes.ring, mesh_size, radius, edge_levels)
    half = electrodes.electrode_height / 2
    breaks = [h + s for h in electrodes.heights for s in (-half, half)]
    return extrude(base.p, base.t, z_levels(height, breaks, mesh_size))


def cylinder_electrode_facets(mesh: MeshTet, electrodes: CylinderElectrodes,
                              radius: float) -> list[np.ndarray]:
    """Boundary facets (triangles) of each electrode patch: on the wall, centroid angle and
    height inside the patch. Raises ValueError if a patch holds no facet."""
    bf = mesh.boundary_facets()
    centroid = mesh.p[:, mesh.facets[:, bf]].mean(axis=1)
    z = mesh.p[2, mesh.facets[:, bf]]
    wall = (np.ptp(z, axis=0) > 0) & (np.linalg.norm(centroid[:2], axis=0) > 0.5 * radius)
    angle = np.arctan2(centroid[1], centroid[0]) % TWO_PI
    half = electrodes.electrode_height / 2
    facets = []
    for r, hc in enumerate(electrodes.heights):
        rows = wall & (np.abs(centroid[2] - hc) < half)
        for l, (a0, a1) in enumerate(electrodes.ring.intervals()):
            on = rows & (((angle - a0) % TWO_PI) < (a1 - a0))
            if not on.any():
                raise ValueError(f"electrode {r * electrodes.ring.L + l} covers no boundary facet; refine")
            facets.append(bf[on])
    return facets
