"""Figures of reconstructions: a grid of samples (rows) x methods (columns), drawn as
tripcolor on the mesh for 2-D EIT, as a horizontal slice for 3-D EIT, as images for 2-D inputs
and as curves for 1-D signals; and slices of 3-D element values at several heights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invtools.analysis.segmentation import CLASS_NAMES
from invtools.support.atomic import atomic_path


def colour_limits(values: list[np.ndarray], diverging: bool = False) -> tuple[float, float]:
    """Shared colour range of one row: (min, max), or (-m, m) with m = max |v| if diverging."""
    lo = min(float(np.min(v)) for v in values)
    hi = max(float(np.max(v)) for v in values)
    if diverging:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return lo, hi


def volume_slice(points: np.ndarray, elements: np.ndarray, values: np.ndarray, z: float,
                 n: int = 96) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Element values (ne,) of a tetrahedral mesh (points (3, N), elements (4, ne)) sampled on
    an n x n grid over the mesh's x-y extent at height z: the image (row 0 at the top, NaN
    outside the mesh) and its extent (x0, x1, y0, y1) for ``imshow``."""
    from scipy.spatial import Delaunay
    from skfem import MeshTet

    lo, hi = points[:2].min(axis=1), points[:2].max(axis=1)
    xs = lo[0] + (np.arange(n) + 0.5) / n * (hi[0] - lo[0])
    ys = hi[1] - (np.arange(n) + 0.5) / n * (hi[1] - lo[1])
    X, Y = np.meshgrid(xs, ys)
    pts = np.stack([X.ravel(), Y.ravel(), np.full(X.size, float(z))])
    inside = Delaunay(points.T).find_simplex(pts.T) >= 0  # the convex hull (a cylinder is convex)
    image = np.full(X.size, np.nan)
    if inside.any():
        which = MeshTet(points, elements).element_finder()(*pts[:, inside])
        image[inside] = np.asarray(values, dtype=np.float64)[which]
    return image.reshape(n, n), (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def _draw(ax, mesh, v, lo, hi, cmap):
    """One panel: tripcolor on a triangle mesh, the mid-height slice of a tetrahedral one, or
    an image."""
    if mesh is not None and np.asarray(mesh[1]).shape[0] == 4:
        z = 0.5 * (mesh[0][2].min() + mesh[0][2].max())
        image, extent = volume_slice(mesh[0], mesh[1], v, z)
        ax.set_xlabel(f"slice z = {z:.3g}", fontsize=7)
        return ax.imshow(image, vmin=lo, vmax=hi, cmap=cmap, extent=extent)
    if mesh is not None:
        im = ax.tripcolor(mesh[0][0], mesh[0][1], mesh[1].T, facecolors=v, vmin=lo, vmax=hi, cmap=cmap)
        ax.set_aspect("equal")
        return im
    return ax.imshow(v, vmin=lo, vmax=hi, cmap=cmap)


def plot_grid(columns: dict[str, np.ndarray], path: str | Path,
              mesh: tuple[np.ndarray, np.ndarray] | None = None, n_rows: int = 4, title: str = "",
              units: str = "", diverging: bool = False, tank: bool = False) -> None:
    """``columns``: name -> (N, *shape) arrays (e.g. truth, x0, model, gn); ``mesh``:
    (points (2, n), triangles (3, ne)) for element values; ``diverging``: values are changes
    (e.g. sigma - sigma0), drawn on a blue-white-red scale centred at zero; ``tank``: square
    images of a disk tank in the pixel frame (row 0 at the top), drawn with its wall and
    electrode 1.
    Writes a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    first = np.asarray(columns[names[0]])
    n_rows = min(n_rows, first.shape[0])
    signal = first.ndim == 2 and mesh is None
    if signal:  # 1-D: one panel per sample, all methods overlaid
        fig, axes = plt.subplots(1, n_rows, figsize=(4 * n_rows, 3.2), squeeze=False, layout="constrained")
        for i in range(n_rows):
            ax = axes[0, i]
            for k, name in enumerate(names):
                ax.plot(np.asarray(columns[name])[i], ["k-", "r--", "b-.", "g:", "m-"][k % 5], label=name)
            ax.set(title=f"sample {i}", xlabel="index")
        axes[0, 0].legend(fontsize=8)
    else:
        panel = 4.0 if len(names) == 1 else 2.8
        cmap = "RdBu_r" if diverging else "viridis"
        fig, axes = plt.subplots(n_rows, len(names), figsize=(panel * len(names), 0.93 * panel * n_rows),
                                 squeeze=False, layout="constrained")
        for i in range(n_rows):
            values = [np.asarray(columns[name])[i] for name in names]
            lo, hi = colour_limits(values, diverging)
            for j, (name, v) in enumerate(zip(names, values, strict=True)):
                ax = axes[i, j]
                im = _draw(ax, mesh, v, lo, hi, cmap)
                if tank:
                    draw_tank(ax, np.asarray(v).shape[-1])
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(name)
            fig.colorbar(im, ax=list(axes[i]), shrink=0.8, label=units)
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def plot_slices(columns: dict[str, np.ndarray], mesh: tuple[np.ndarray, np.ndarray], heights: list[float],
                path: str | Path, title: str = "", units: str = "") -> None:
    """One 3-D sample: ``columns`` name -> element values (ne,) on the tetrahedral ``mesh``
    (points (3, n), elements (4, ne)), drawn as horizontal slices at ``heights`` (rows) for
    every column, on one colour scale. Writes a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    lo, hi = colour_limits([np.asarray(columns[k]) for k in names])
    fig, axes = plt.subplots(len(heights), len(names), figsize=(2.6 * len(names), 2.5 * len(heights)),
                             squeeze=False)
    for i, z in enumerate(heights):
        for j, name in enumerate(names):
            image, extent = volume_slice(mesh[0], mesh[1], np.asarray(columns[name]), z)
            im = axes[i, j].imshow(image, vmin=lo, vmax=hi, extent=extent)
            axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
            if j == 0:
                axes[i, j].set_ylabel(f"z = {z:.2g}", fontsize=8)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label=units)
    if title:
        fig.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def plot_label_grid(rows: dict[str, dict[str, np.ndarray]], path: str | Path,
                    title: str = "three-class segmentation", classes: tuple[str, ...] = CLASS_NAMES) -> None:
    """Three-class label images (n, n) drawn as a grid: ``rows`` maps a row name (e.g. a
    measurement file) to ``{column name: labels}`` (0 water, 1 resistive, 2 conductive), under
    the figure title ``title``. Writes a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from invtools.analysis.segmentation import LABEL_COLOURS

    columns = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.2 * len(columns), 2.2 * len(rows) + 0.5),
                             squeeze=False, layout="constrained")
    cmap = ListedColormap(LABEL_COLOURS)
    for i, (row, images) in enumerate(rows.items()):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            ax.imshow(images[column], cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
            draw_tank(ax, np.asarray(images[column]).shape[-1])
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(column, fontsize=8)
            if j == 0:
                ax.set_ylabel(row, fontsize=8)
    label_key(fig, classes)
    fig.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def plot_label_images(labels: np.ndarray, out, classes: tuple[str, ...] = CLASS_NAMES) -> None:
    """Label images (N, n, n) in the pixel frame (row 0 at the top) side by side, with the tank's wall,
    electrode 1 and a colour key, as a PNG into ``out`` (a path or a binary file object)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from invtools.analysis.segmentation import LABEL_COLOURS

    fig, axes = plt.subplots(1, len(labels), figsize=(3 * len(labels), 3.5), squeeze=False,
                             layout="constrained")
    for k, (ax, image) in enumerate(zip(axes[0], labels, strict=True)):
        ax.imshow(image, cmap=ListedColormap(LABEL_COLOURS), vmin=0, vmax=2, interpolation="nearest")
        draw_tank(ax, np.asarray(image).shape[-1])
        ax.set_xticks([]), ax.set_yticks([])
        if len(labels) > 1:
            ax.set_title(f"image {k}", fontsize=8)
    label_key(fig, classes)
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)


def label_key(fig, classes: tuple[str, ...] = CLASS_NAMES) -> None:
    """A colour key of the three classes (their names: background, resistive, conductive) below
    the panels."""
    from matplotlib.patches import Patch

    from invtools.analysis.segmentation import LABEL_COLOURS

    fig.legend(handles=[Patch(facecolor=c, edgecolor="0.4", label=f"{k} {name}")
                        for k, (c, name) in enumerate(zip(LABEL_COLOURS, classes, strict=True))],
               loc="outside lower center", ncol=3, fontsize=7, frameon=False)


def draw_tank(ax, n: int) -> None:
    """A disk tank's wall (the circle inscribed in an n x n image in the pixel frame, row 0 at
    the top) and electrode 1, at the top (90 degrees), marked and numbered."""
    from matplotlib.patches import Circle

    c, r = (n - 1) / 2, n / 2
    ax.add_patch(Circle((c, c), r, fill=False, edgecolor="0.25", lw=0.8))
    ax.plot([c], [c - r], marker="v", color="k", ms=5, clip_on=False)
    ax.annotate("1", (c, c - r), xytext=(0, -6), textcoords="offset points", ha="center",
                va="top", fontsize=7, annotation_clip=False)
    ax.set_xlim(-0.5, n - 0.5), ax.set_ylim(n - 0.5, -0.5)
