"""CEM operators on domains beyond the disk, with the configs that rebuild them:

- ``outline``: any 2-D domain inside a closed outline, meshed by gmsh (:mod:`.outline`);
- ``mesh file``: a triangle mesh read from a file, electrodes snapped to its boundary nodes;
- ``cylinder``: a 3-D tank with electrode rings, tetrahedra by extrusion (:mod:`.cylinder`).

Electrodes on 2-D domains are placed by arc length (:mod:`.boundary`). The operators are plain
:class:`~forward_models.eit.forward.CEMForward` objects: every reconstructor, data set and CLI
command works on them unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from forward_models.eit.boundary import arc_electrode_facets
from forward_models.eit.cylinder import CylinderElectrodes, cylinder_electrode_facets, cylinder_mesh
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
from forward_models.eit.outline import check_outline, load_mesh, outline_mesh
from forward_models.eit.patterns import resolve_patterns


def mesh_digest(mesh) -> str:
    """A short hash of a mesh's nodes (rounded to 1e-12 m) and elements."""
    h = hashlib.sha256(np.round(mesh.p, 12).tobytes())
    h.update(np.ascontiguousarray(mesh.t, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def on_outline(outline, electrodes: Electrodes, mesh_size: float, currents="adjacent",
               measurements="differences", exclude_driving: bool = False, edge_levels: int = 0,
               solver: str = "auto", n_threads: int | None = None, digest: str | None = None) -> CEMForward:
    """The CEM inside a closed ``outline`` (n, 2) in metres, electrodes by arc length (their
    "angles" are arc fractions times 2 pi from the outline's first point). ``digest``: the mesh
    hash a stored config expects (refused if this gmsh builds another mesh)."""
    outline = check_outline(outline)
    mesh = outline_mesh(outline, electrodes, mesh_size, edge_levels)
    if digest is not None and mesh_digest(mesh) != digest:
        raise ValueError("this gmsh version meshes the outline differently from the one the model or data "
                         "were made with; use the gmsh version of their provenance")
    facets, _ = arc_electrode_facets(mesh, electrodes)
    I, M = resolve_patterns(electrodes.L, currents, measurements, exclude_driving)
    op = CEMForward(mesh, facets, electrodes.contact_impedance, I, M, solver=solver, n_threads=n_threads)
    op._domain = {"outline": {"points": outline.tolist(), "electrodes": electrodes.config(),
                              "h": mesh_size, "edge_levels": edge_levels, "digest": mesh_digest(mesh)}}
    return op


def from_mesh_file(path: str | Path, electrodes: Electrodes, currents="adjacent",
                   measurements="differences", exclude_driving: bool = False, solver: str = "auto",
                   n_threads: int | None = None) -> tuple[CEMForward, np.ndarray]:
    """The CEM on a triangle mesh read from ``path``, electrodes by arc length along its outer
    boundary, their ends snapped to the nearest boundary nodes; returns the operator and the
    electrodes' actual extents (L, 2) (arc fractions times 2 pi). The config stores the mesh
    itself, so models and data sets do not depend on the file afterwards."""
    mesh = load_mesh(path)
    facets, extents = arc_electrode_facets(mesh, electrodes, snap=True)
    I, M = resolve_patterns(electrodes.L, currents, measurements, exclude_driving)
    op = CEMForward(mesh, facets, electrodes.contact_impedance, I, M, solver=solver, n_threads=n_threads)
    return op, extents


def on_cylinder(electrodes: CylinderElectrodes, radius: float, height: float, mesh_size: float,
                currents="adjacent", measurements="differences", exclude_driving: bool = False,
                edge_levels: int = 0, solver: str = "auto", n_threads: int | None = None) -> CEMForward:
    """The 3-D CEM in a cylinder tank (m) with electrode rings (:class:`CylinderElectrodes`),
    P1 tetrahedra, P0 conductivity per tetrahedron, insulated top and bottom."""
    mesh = cylinder_mesh(electrodes, radius, height, mesh_size, edge_levels)
    facets = cylinder_electrode_facets(mesh, electrodes, radius)
    I, M = resolve_patterns(electrodes.L, currents, measurements, exclude_driving)
    op = CEMForward(mesh, facets, electrodes.z, I, M, solver=solver, n_threads=n_threads)
    op._domain = {"cylinder": {"electrodes": electrodes.config(), "radius": radius, "height": height,
                               "h": mesh_size, "edge_levels": edge_levels}}
    return op


def from_domain_config(cfg: dict[str, Any]) -> CEMForward:
    """Rebuild an operator whose config holds an ``outline`` or ``cylinder`` domain."""
    currents, meas = np.asarray(cfg["currents"]), [np.asarray(m) for m in cfg["measurements"]]
    z = np.asarray(cfg["contact_impedance"])
    if "outline" in cfg:
        d = cfg["outline"]
        el = Electrodes.from_config(d["electrodes"])
        el = Electrodes(el.centers, el.widths, z)
        return on_outline(np.asarray(d["points"]), el, d["h"], currents, meas, edge_levels=d["edge_levels"],
                          solver=cfg["solver"], digest=d["digest"])
    d = cfg["cylinder"]
    el = CylinderElectrodes.from_config(d["electrodes"])
    if not np.array_equal(el.z, z):  # contact impedances changed after construction
        el = CylinderElectrodes(el.ring, el.heights, el.electrode_height, tuple(z.tolist()))
    return on_cylinder(el, d["radius"], d["height"], d["h"], currents, meas, edge_levels=d["edge_levels"],
                       solver=cfg["solver"])
