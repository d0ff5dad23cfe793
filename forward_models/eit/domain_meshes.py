"""The meshes and electrode facets of the domains beyond the disk, and the config records that
rebuild them, without the operator: :mod:`.domains` builds a
:class:`~forward_models.eit.forward.CEMForward` on them, and ``CEMForward.from_config`` rebuilds
one from a record (so neither module imports the other).

- ``outline``: any 2-D domain inside a closed outline, meshed by gmsh (:mod:`.outline`);
- ``cylinder``: a 3-D tank with electrode rings, tetrahedra by extrusion (:mod:`.cylinder`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from forward_models.eit.boundary import arc_electrode_facets
from forward_models.eit.cylinder import CylinderElectrodes, cylinder_electrode_facets, cylinder_mesh
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.outline import check_outline, outline_mesh

DomainMesh = tuple[Any, list[np.ndarray], dict[str, Any]]  # (mesh, electrode facets, record)


def mesh_digest(mesh) -> str:
    """A short hash of a mesh's nodes (rounded to 1e-12 m) and elements."""
    h = hashlib.sha256(np.round(mesh.p, 12).tobytes())
    h.update(np.ascontiguousarray(mesh.t, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def outline_domain(outline, electrodes: Electrodes, mesh_size: float, edge_levels: int = 0,
                   digest: str | None = None) -> DomainMesh:
    """The gmsh mesh inside a closed ``outline`` (n, 2) in metres, electrodes by arc length;
    ``digest``: the mesh hash a stored config expects (refused if this gmsh builds another)."""
    outline = check_outline(outline)
    mesh = outline_mesh(outline, electrodes, mesh_size, edge_levels)
    if digest is not None and mesh_digest(mesh) != digest:
        raise ValueError("this gmsh version meshes the outline differently from the one the model or data "
                         "were made with; use the gmsh version of their provenance")
    facets, _ = arc_electrode_facets(mesh, electrodes)
    record = {"outline": {"points": outline.tolist(), "electrodes": electrodes.config(),
                          "h": mesh_size, "edge_levels": edge_levels, "digest": mesh_digest(mesh)}}
    return mesh, facets, record


def cylinder_domain(electrodes: CylinderElectrodes, radius: float, height: float, mesh_size: float,
                    edge_levels: int = 0) -> DomainMesh:
    """The tetrahedral mesh of a cylinder tank (m) with electrode rings, insulated top and bottom."""
    mesh = cylinder_mesh(electrodes, radius, height, mesh_size, edge_levels)
    facets = cylinder_electrode_facets(mesh, electrodes, radius)
    record = {"cylinder": {"electrodes": electrodes.config(), "radius": radius, "height": height,
                           "h": mesh_size, "edge_levels": edge_levels}}
    return mesh, facets, record


def domain_from_config(cfg: dict[str, Any]) -> DomainMesh:
    """Rebuild the mesh, facets and record of an operator config with an ``outline`` or
    ``cylinder`` domain (the contact impedances are the config's own)."""
    z = np.asarray(cfg["contact_impedance"])
    if "outline" in cfg:
        d = cfg["outline"]
        el = Electrodes.from_config(d["electrodes"])
        return outline_domain(np.asarray(d["points"]), Electrodes(el.centers, el.widths, z), d["h"],
                              d["edge_levels"], digest=d["digest"])
    d = cfg["cylinder"]
    el = CylinderElectrodes.from_config(d["electrodes"])
    if not np.array_equal(el.z, z):  # contact impedances changed after construction
        el = CylinderElectrodes(el.ring, el.heights, el.electrode_height, tuple(z.tolist()))
    return cylinder_domain(el, d["radius"], d["height"], d["h"], d["edge_levels"])
