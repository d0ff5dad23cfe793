"""Matplotlib helpers: meshes with electrodes and element-wise fields."""

from __future__ import annotations

import numpy as np
from skfem import MeshTri


def plot_mesh(ax, mesh: MeshTri, facets: list[np.ndarray] | None = None, lw: float = 0.2):
    """Draw the triangles and, if given, each electrode's facets in colour with its index."""
    ax.triplot(mesh.p[0], mesh.p[1], mesh.t.T, lw=lw, color="0.6")
    for l, f in enumerate(facets or []):
        seg = mesh.p[:, mesh.facets[:, f]]  # (2, 2, n)
        ax.plot(seg[0], seg[1], color="C3", lw=3, solid_capstyle="butt")
        mid = seg.mean(axis=(1, 2))
        ax.text(*(1.12 * mid), str(l), ha="center", va="center", fontsize=7, clip_on=False)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def plot_elements(ax, mesh: MeshTri, values: np.ndarray, cmap: str = "viridis", **kw):
    """``tripcolor`` of element values (ne,); returns the mappable for a colour bar."""
    im = ax.tripcolor(mesh.p[0], mesh.p[1], mesh.t.T, facecolors=np.asarray(values),
                      cmap=cmap, **kw)
    ax.set_aspect("equal")
    ax.axis("off")
    return im
