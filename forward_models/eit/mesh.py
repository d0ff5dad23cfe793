"""Triangular meshes of a disk whose boundary nodes include every electrode end point."""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay
from skfem import MeshTri

from forward_models.eit.electrodes import TWO_PI, Electrodes
from invtools.support.deprecation import renamed_keyword


def _boundary_angles(electrodes: Electrodes, h: float, radius: float) -> np.ndarray:
    """Sorted node angles on the circle: all electrode end points plus fill at spacing ~h."""
    breaks = np.sort(electrodes.intervals().ravel() % TWO_PI)
    arcs = np.diff(np.append(breaks, breaks[0] + TWO_PI))
    angles = [start + arc * np.arange(n) / n
              for start, arc in zip(breaks, arcs, strict=True)
              for n in [max(1, int(np.ceil(arc * radius / h)))]]
    return np.sort(np.concatenate(angles) % TWO_PI)


def refine_near_points(mesh: MeshTri, points: np.ndarray, levels: int, h: float,
                       radius: float | None = None, reach: float = 3.0) -> MeshTri:
    """Refine elements within ``reach * h / 2^k`` of ``points`` (2, n), k = 0..levels-1.

    With ``radius``, new boundary nodes are projected onto the circle of ``radius`` (centred at
    the origin), so the mesh keeps approximating the disk; without, they stay at the midpoints
    of the boundary edges (a polygonal domain keeps its shape). Existing boundary nodes stay.
    """
    for level in range(levels):
        centroids = mesh.p[:, mesh.t].mean(axis=1)
        dist = np.linalg.norm(centroids[:, :, None] - points[:, None, :], axis=0).min(axis=1)
        mesh = mesh.refined(np.nonzero(dist < reach * h / 2**level)[0])
        if radius is not None:
            b = mesh.boundary_nodes()
            p = mesh.p.copy()
            p[:, b] *= radius / np.linalg.norm(p[:, b], axis=0)
            mesh = MeshTri(p, mesh.t)
    return mesh


def disk_mesh(electrodes: Electrodes, mesh_size: float | None = None, radius: float = 1.0,
              edge_levels: int = 0, *, h: float | None = None) -> MeshTri:
    """Mesh of the disk of ``radius`` with element size ~``mesh_size`` (same length unit as
    radius; ``h`` is its deprecated former name).

    Boundary nodes lie on the circle and include every electrode end point, so each electrode
    is a union of boundary facets (conforming electrodes).  Interior nodes lie on concentric
    rings; the triangulation is the Delaunay triangulation of all nodes.  ``edge_levels`` rounds
    of local refinement near electrode edges resolve the contact-impedance boundary layer there
    (worthwhile when z / sigma is small compared with the mesh size).
    """
    h = renamed_keyword(mesh_size, h, "h", "mesh_size")
    if h is None or not 0 < h < radius:
        raise ValueError(f"need 0 < mesh_size < radius, got mesh_size={h}, radius={radius}")
    theta = _boundary_angles(electrodes, h, radius)
    points = [radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)]
    dr = h * np.sqrt(3) / 2
    n_rings = int(np.floor(radius / dr - 0.5))
    for k in range(1, n_rings + 1):
        r = radius - k * dr
        n = int(np.round(TWO_PI * r / h))
        if n < 6:
            break
        phase = 0.5 * (k % 2) * TWO_PI / n  # stagger rings: no co-circular quadruples
        t = phase + TWO_PI * np.arange(n) / n
        points.append(r * np.stack([np.cos(t), np.sin(t)], axis=1))
    points.append(np.zeros((1, 2)))
    p = np.concatenate(points)
    tri = Delaunay(p, qhull_options="Qbb Qc Qz Q12")
    t = tri.simplices
    # drop degenerate triangles (possible only between co-circular boundary nodes)
    a, b, c = p[t[:, 0]], p[t[:, 1]], p[t[:, 2]]
    area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    t = t[area > 1e-12 * h * h]
    mesh = MeshTri(p.T.copy(), t.T.copy())
    edges = electrodes.intervals().ravel()
    edge_points = radius * np.stack([np.cos(edges), np.sin(edges)])
    return refine_near_points(mesh, edge_points, edge_levels, h, radius)


def electrode_facets(mesh: MeshTri, electrodes: Electrodes, center=(0.0, 0.0),
                     tol: float = 1e-9) -> list[np.ndarray]:
    """Boundary facet indices of each electrode: facets whose midpoint angle lies on it.

    Raises ``ValueError`` if an electrode holds no facet, or if the mesh does not conform to it
    (a chosen facet reaches beyond the electrode's end points).
    """
    bf = mesh.boundary_facets()
    ends = mesh.p[:, mesh.facets[:, bf]] - np.asarray(center, dtype=float)[:, None, None]
    ang = np.arctan2(ends[1], ends[0]) % TWO_PI  # (2, n_boundary_facets)
    mid = mesh.p[:, mesh.facets[:, bf]].mean(axis=1)
    ang_mid = np.arctan2(mid[1] - center[1], mid[0] - center[0]) % TWO_PI
    facets = []
    for l, (a0, a1) in enumerate(electrodes.intervals()):
        on = ((ang_mid - a0) % TWO_PI) < (a1 - a0)
        if not on.any():
            raise ValueError(f"electrode {l} covers no boundary facet; refine the mesh")
        rel = (ang[:, on] - a0 + tol) % TWO_PI - tol
        if np.any(rel < -tol) or np.any(rel > (a1 - a0) + tol):
            raise ValueError(f"mesh does not conform to electrode {l}: a facet reaches beyond its "
                             "end points (build the mesh with disk_mesh(electrodes, ...))")
        facets.append(bf[on])
    return facets
