"""2-D domains beyond the disk: triangle meshes of a closed outline (made by gmsh), and meshes
read from files (gmsh ``.msh`` and every format ``meshio`` reads, through scikit-fem).

An outline is a closed polygon (n, 2) in metres, counter-clockwise (reversed if not), its
first point the origin of the electrodes' arc-length positions (:mod:`~forward_models.eit.boundary`).
Every electrode end becomes a boundary node, so the electrodes conform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skfem import MeshTri

from forward_models.eit.boundary import arc_positions
from forward_models.eit.electrodes import TWO_PI, Electrodes
from forward_models.eit.mesh import refine_near_points
from invtools.operators.geometry import signed_area


def check_outline(outline) -> np.ndarray:
    """The outline as a float array (n, 2), counter-clockwise, without a repeated last point."""
    pts = np.asarray(outline, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"an outline is a list of at least 3 points (x, y); got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("the outline contains NaN or Inf")
    if np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    if abs(signed_area(pts.T)) < 1e-12 * np.ptp(pts) ** 2:
        raise ValueError("the outline encloses no area")
    return pts if signed_area(pts.T) > 0 else np.concatenate([pts[:1], pts[:0:-1]])


def ellipse_outline(a: float, b: float, n: int = 128) -> np.ndarray:
    """n points (n, 2) on the ellipse with semi-axes a (x) and b (y), from (a, 0) counter-clockwise."""
    t = TWO_PI * np.arange(n) / n
    return np.stack([a * np.cos(t), b * np.sin(t)], axis=1)


def read_outline(path: str | Path) -> np.ndarray:
    """An outline from a text file of ``x, y`` rows (comma or space separated; ``#`` comments)."""
    path = Path(path)
    try:
        text = path.read_text().replace(",", " ")
        pts = np.loadtxt(text.splitlines(), ndmin=2)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not an outline file of x, y rows ({err})") from None
    return check_outline(pts)


def boundary_points(outline: np.ndarray, electrodes: Electrodes, h: float) -> np.ndarray:
    """Points (k, 2) along the outline: its vertices, every electrode end (by arc length) and
    fill at spacing ~h, in counter-clockwise order from the outline's first point."""
    s, length = arc_positions(outline.T)
    ends = np.sort(electrodes.intervals().ravel() % TWO_PI) / TWO_PI * length
    breaks = np.unique(np.concatenate([s, ends, [0.0]]))
    arcs = np.diff(np.append(breaks, length))
    fill = [b + a * np.arange(n) / n for b, a in zip(breaks, arcs, strict=True)
            for n in [max(1, int(np.ceil(a / h)))]]
    t = np.unique(np.concatenate(fill))
    return points_at(outline, t[np.concatenate([[True], np.diff(t) > 1e-9 * length])])


def points_at(outline: np.ndarray, arcs: np.ndarray) -> np.ndarray:
    """Points (k, 2) at arc-length positions ``arcs`` (k,) along the closed outline (n, 2)."""
    s, length = arc_positions(outline.T)
    closed, sc = np.concatenate([outline, outline[:1]]), np.append(s, length)
    return np.stack([np.interp(arcs, sc, closed[:, 0]), np.interp(arcs, sc, closed[:, 1])], axis=1)


def outline_mesh(outline, electrodes: Electrodes, mesh_size: float, edge_levels: int = 0) -> MeshTri:
    """Triangle mesh (gmsh, Delaunay-frontal) of the domain inside ``outline`` with element size
    ~``mesh_size``, every electrode end a boundary node, and ``edge_levels`` rounds of refinement
    near the electrode ends (as :func:`~forward_models.eit.mesh.disk_mesh`). Needs gmsh
    (``pip install gmsh``). Deterministic for a given gmsh version."""
    try:
        import gmsh
    except ImportError:
        raise ImportError("meshing an outline needs gmsh: pip install gmsh "
                          "(or pip install invtools[geometry])") from None
    outline = check_outline(outline)
    if not 0 < mesh_size < np.ptp(outline, axis=0).max():
        raise ValueError(f"mesh_size = {mesh_size} must be > 0 and below the outline's extent")
    pts = boundary_points(outline, electrodes, mesh_size)
    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.option.setNumber("Mesh.RandomSeed", 1)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeMax", mesh_size)
        gmsh.model.add("outline")
        tags = [gmsh.model.geo.addPoint(x, y, 0.0, mesh_size) for x, y in pts]
        lines = [gmsh.model.geo.addLine(tags[i], tags[(i + 1) % len(tags)]) for i in range(len(tags))]
        gmsh.model.geo.addPlaneSurface([gmsh.model.geo.addCurveLoop(lines)])
        gmsh.model.geo.synchronize()
        gmsh.model.mesh.generate(2)
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        types, _, elem_nodes = gmsh.model.mesh.getElements(2)
    finally:
        gmsh.finalize()
    index = np.zeros(int(node_tags.max()) + 1, dtype=np.int64)
    index[node_tags.astype(np.int64)] = np.arange(len(node_tags))
    triangles = index[np.asarray(elem_nodes[list(types).index(2)], dtype=np.int64).reshape(-1, 3)]
    used = np.unique(triangles)
    renumber = np.full(len(node_tags), -1)
    renumber[used] = np.arange(used.size)
    p = coords.reshape(-1, 3)[used, :2].T.copy()
    mesh = MeshTri(p, renumber[triangles].T.copy())
    length = arc_positions(outline.T)[1]
    ends = points_at(outline, electrodes.intervals().ravel() % TWO_PI / TWO_PI * length)
    return refine_near_points(mesh, ends.T, edge_levels, mesh_size)


def load_mesh(path: str | Path) -> MeshTri:
    """A 2-D triangle mesh from a file scikit-fem reads through meshio (gmsh ``.msh``, ``.vtk``,
    ``.xdmf``, ...); coordinates in metres. Lower-dimensional cells (boundary lines) are ignored."""
    from skfem import Mesh

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such mesh file")
    try:
        mesh = Mesh.load(str(path))
    except ImportError:
        raise ImportError("reading mesh files needs meshio: pip install meshio") from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 (meshio raises many kinds, some exit)
        raise ValueError(f"{path}: not a mesh file meshio can read ({type(err).__name__}: {err})") from None
    if not isinstance(mesh, MeshTri):
        raise ValueError(f"{path}: a {type(mesh).__name__}; 2-D EIT needs a triangle mesh")
    return mesh
