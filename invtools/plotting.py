"""Figures of reconstructions: a grid of samples (rows) x methods (columns), drawn as
tripcolor on the mesh for EIT, as images for 2-D inputs and as curves for 1-D signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invtools.atomic import atomic_path


def colour_limits(values: list[np.ndarray], diverging: bool = False) -> tuple[float, float]:
    """Shared colour range of one row: (min, max), or (-m, m) with m = max |v| if diverging."""
    lo = min(float(np.min(v)) for v in values)
    hi = max(float(np.max(v)) for v in values)
    if diverging:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return lo, hi


def plot_grid(columns: dict[str, np.ndarray], path: str | Path,
              mesh: tuple[np.ndarray, np.ndarray] | None = None, n_rows: int = 4, title: str = "",
              units: str = "", diverging: bool = False) -> None:
    """``columns``: name -> (N, *shape) arrays (e.g. truth, x0, model, gn); ``mesh``:
    (points (2, n), triangles (3, ne)) for element values; ``diverging``: values are changes
    (e.g. sigma - sigma0), drawn on a blue-white-red scale centred at zero. Writes a PNG
    atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    first = np.asarray(columns[names[0]])
    n_rows = min(n_rows, first.shape[0])
    signal = first.ndim == 2 and mesh is None
    if signal:  # 1-D: one panel per sample, all methods overlaid
        fig, axes = plt.subplots(1, n_rows, figsize=(4 * n_rows, 3), squeeze=False)
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
                                 squeeze=False)
        for i in range(n_rows):
            values = [np.asarray(columns[name])[i] for name in names]
            lo, hi = colour_limits(values, diverging)
            for j, (name, v) in enumerate(zip(names, values, strict=True)):
                ax = axes[i, j]
                if mesh is not None:
                    im = ax.tripcolor(mesh[0][0], mesh[0][1], mesh[1].T, facecolors=v, vmin=lo, vmax=hi,
                                      cmap=cmap)
                    ax.set_aspect("equal")
                else:
                    im = ax.imshow(v, vmin=lo, vmax=hi, cmap=cmap)
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


def plot_label_grid(rows: dict[str, dict[str, np.ndarray]], path: str | Path, title: str = "") -> None:
    """Three-class label images (n, n) drawn as a grid: ``rows`` maps a row name (e.g. a
    measurement file) to ``{column name: labels}`` (0 water, 1 resistive, 2 conductive).
    Writes a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from invtools.segmentation import LABEL_COLOURS

    columns = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.2 * len(columns), 2.2 * len(rows)),
                             squeeze=False)
    cmap = ListedColormap(LABEL_COLOURS)
    for i, (row, images) in enumerate(rows.items()):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            ax.imshow(images[column], cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(column, fontsize=8)
            if j == 0:
                ax.set_ylabel(row, fontsize=8)
    fig.suptitle(title or "water (light), resistive (blue), conductive (red)", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
