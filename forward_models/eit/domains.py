"""CEM operators on domains beyond the disk, with the configs that rebuild them:

- ``outline``: any 2-D domain inside a closed outline, meshed by gmsh (:mod:`.outline`);
- ``mesh file``: a triangle mesh read from a file, electrodes snapped to its boundary nodes;
- ``cylinder``: a 3-D tank with electrode rings, tetrahedra by extrusion (:mod:`.cylinder`).

Electrodes on 2-D domains are placed by arc length (:mod:`.boundary`). The operators are plain
:class:`~forward_models.eit.forward.CEMForward` objects: every reconstructor, data set and CLI
command works on them unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from forward_models.eit.boundary import arc_electrode_facets
from forward_models.eit.cylinder import CylinderElectrodes
from forward_models.eit.domain_meshes import cylinder_domain, mesh_digest, outline_domain
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
from forward_models.eit.outline import load_mesh
from forward_models.eit.patterns import resolve_patterns

__all__ = ["from_mesh_file", "mesh_digest", "on_cylinder", "on_outline"]


def on_outline(outline, electrodes: Electrodes, mesh_size: float, currents="adjacent",
               measurements="differences", exclude_driving: bool = False, edge_levels: int = 0,
               solver: str = "auto", n_threads: int | None = None, digest: str | None = None) -> CEMForward:
    """The CEM inside a closed ``outline`` (n, 2) in metres, electrodes by arc length (their
    "angles" are arc fractions times 2 pi from the outline's first point). ``digest``: the mesh
    hash a stored config expects (refused if this gmsh builds another mesh)."""
    mesh, facets, record = outline_domain(outline, electrodes, mesh_size, edge_levels, digest)
    I, M = resolve_patterns(electrodes.L, currents, measurements, exclude_driving)
    op = CEMForward(mesh, facets, electrodes.contact_impedance, I, M, solver=solver, n_threads=n_threads)
    op._domain = record
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
    mesh, facets, record = cylinder_domain(electrodes, radius, height, mesh_size, edge_levels)
    I, M = resolve_patterns(electrodes.L, currents, measurements, exclude_driving)
    op = CEMForward(mesh, facets, electrodes.z, I, M, solver=solver, n_threads=n_threads)
    op._domain = record
    return op

