"""Electrodes on the outer boundary of any 2-D mesh, placed by arc length.

On a general domain an :class:`~forward_models.eit.electrodes.Electrodes` "angle" is an
arc-length position: ``angle / (2 pi)`` is the fraction of the outer boundary's length,
measured counter-clockwise from the boundary's origin (the first point of an outline, or the
boundary node nearest the ray from the centroid along +x). On a disk whose origin is at angle
0 that is the polar angle, so the same ``Electrodes`` describe the same electrodes.
"""

from __future__ import annotations

import numpy as np
from skfem import MeshTri

from forward_models.eit.electrodes import TWO_PI, Electrodes
from invtools.operators.geometry import boundary_loop


def arc_positions(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Arc-length positions (n,) of the vertices of a closed polygon (2, n) and its length."""
    seg = np.linalg.norm(np.diff(np.concatenate([points, points[:, :1]], axis=1), axis=1), axis=0)
    return np.concatenate([[0.0], np.cumsum(seg)[:-1]]), float(seg.sum())


def arc_electrode_facets(mesh: MeshTri, electrodes: Electrodes, origin: np.ndarray | None = None,
                         snap: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Boundary facets of each electrode placed by arc length on the outer boundary, and the
    electrodes' actual extents (L, 2) as arc fractions times 2 pi.

    The electrode ends must be boundary nodes (within 1e-6 of the boundary's length), unless
    ``snap``: then each end moves to its nearest boundary node (meshes made elsewhere, e.g. read
    from a file) and the returned extents say where the electrodes are.
    """
    loop = boundary_loop(mesh, origin)
    s, length = arc_positions(mesh.p[:, loop])
    t = TWO_PI * s / length  # node positions as arc "angles"
    position = np.full(mesh.p.shape[1], np.nan)
    position[loop] = t
    ends = electrodes.intervals() % TWO_PI
    gap = np.abs((ends[..., None] - t + np.pi) % TWO_PI - np.pi)  # (L, 2, n) circular distance
    nearest = t[np.argmin(gap, axis=2)]
    if not snap and np.any(gap.min(axis=2) > 1e-6 * TWO_PI):
        l = int(np.argmax(gap.min(axis=2).max(axis=1)))
        raise ValueError(f"electrode {l}'s ends are not boundary nodes: build the mesh with them "
                         "(outline_mesh) or pass snap=True")
    bf = mesh.boundary_facets()
    a, b = position[mesh.facets[:, bf]]
    facets, extents = [], []
    for l, (start, end) in enumerate(nearest):
        width = (end - start) % TWO_PI
        if width == 0:
            raise ValueError(f"electrode {l} is narrower than the boundary mesh: refine the mesh")
        on = np.isfinite(a) & _within(a, start, width) & _within(b, start, width)
        facets.append(bf[on])
        extents.append([start, start + width])
    return facets, np.array(extents)


def _within(x: np.ndarray, start: float, width: float) -> np.ndarray:
    """Whether arc positions x lie on the arc [start, start + width] (modulo 2 pi)."""
    return (x - start + 1e-9) % TWO_PI <= width + 2e-9
