"""The KIT4 tank's five shared files reconstructed by Gauss-Newton through its device description
(``invtools/devices/kit4.toml``): the calibration, the figure of docs/kit4_gn.png, and the
check of the measurement pattern the description uses.

    python -m benchmarks.studies.kit4_devices [--kit4 ../shared/kit4] [--figure docs/kit4_gn.png]
    python -m benchmarks.studies.kit4_devices --patterns   # the two measurement patterns' fits only

Prints the fitted background conductivity sigma0 (in the files' units: stored currents and
voltages, 2-D), the contact impedance and the relative misfit of the homogeneous fit to
datamat_1_0; with ``--patterns``, that misfit for the files' MeasPattern (row j: U_j - U_{j-1})
and for the adjacent differences U_j - U_{j+1} that the description names; then per file, the
pixels labelled resistive and conductive (of 256 x 256) by difference and by absolute imaging,
and the seconds each took. The figure: per file, log(sigma / sigma0) of difference imaging, its
segmentation, and the absolute image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks._timing import print_table
from invtools.devices import load_description, parse_description, read_device_file
from invtools.workflow.reconstruct import reconstruct

FILES = ["datamat_1_0", "datamat_1_1", "datamat_2_1", "datamat_3_2", "datamat_5_1"]


def pattern_misfits(folder: Path) -> list[list]:
    """Rows (measurement pattern, sigma0, z, misfit) of the homogeneous fit to datamat_1_0."""
    from forward_models.eit.described import DescribedCEM

    desc = load_description("kit4")
    as_stored = desc.tables | {"patterns": desc["patterns"] | {"measurements": "file"},
                               "file": desc["file"] | {"measurements": "MeasPattern"}}
    from invtools.devices.description import description_text

    rows = []
    stored = parse_description(description_text(type(desc)(as_stored, desc.source)), desc.source)
    for label, d in (("MeasPattern as stored (U_j - U_j-1)", stored),
                     ("adjacent (U_j - U_j+1), the description's", desc)):
        m = read_device_file(d, folder / "datamat_1_0.mat")
        try:
            cal = DescribedCEM(d).calibrate(m.reference, m.extra["currents"], m.extra["measurement"], m.mask)
            rows.append([label, f"{cal.sigma0:.4g}", f"{cal.contact_impedance:.3g}", f"{cal.misfit:.4f}"])
        except ValueError:  # anti-correlated with every homogeneous model
            rows.append([label, "-", "-", "no positive fit"])
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kit4", default=str(Path.cwd().resolve().parent / "shared" / "kit4"))
    p.add_argument("--figure", default="docs/kit4_gn.png")
    p.add_argument("--patterns", action="store_true", help="the measurement patterns' fits only")
    args = p.parse_args(argv)
    folder = Path(args.kit4)
    if not (folder / "datamat_1_0.mat").is_file():
        raise SystemExit(f"{folder}: no KIT4 files (datamat_1_0.mat ...); pass --kit4")
    print_table(["measurement pattern", "sigma0", "z (Ohm m^2)", "misfit"], pattern_misfits(folder))
    if args.patterns:
        return
    rows, columns = [], {}
    for name in FILES:
        path = folder / f"{name}.mat"
        t0 = time.perf_counter()
        diff = reconstruct(path, device="kit4")
        t1 = time.perf_counter()
        absolute = reconstruct(path, device="kit4", absolute=True)
        t2 = time.perf_counter()
        count = [int((r.label_images == c).sum()) for r in (diff, absolute) for c in (1, 2)]
        rows.append([name, *count, f"{t1 - t0:.1f}", f"{t2 - t1:.1f}"])
        columns[name] = (diff, absolute)
    print(f"sigma0 {diff.sigma0:.4g}, z {diff.contact_impedance:.3g} Ohm m^2, misfit "
          f"{diff.calibration_misfit:.4f}")
    print_table(["file", "diff resistive", "diff conductive", "abs resistive", "abs conductive",
                 "diff s", "abs s"], rows)
    figure(columns, Path(args.figure))
    print(f"wrote {args.figure}")


def figure(columns: dict, out: Path) -> None:
    """Rows: difference log(sigma / sigma0), its labels, absolute sigma; columns: the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from invtools.analysis.plotting import draw_tank
    from invtools.analysis.segmentation import LABEL_COLOURS
    from invtools.support.atomic import atomic_path

    fig, axes = plt.subplots(3, len(columns), figsize=(2.3 * len(columns), 7.0), layout="constrained")
    cmap = matplotlib.colors.ListedColormap(LABEL_COLOURS)
    for j, (name, (diff, absolute)) in enumerate(columns.items()):
        contrast = np.log(diff.x[0] / diff.sigma0)[::-1]  # row 0 at the top
        im0 = axes[0, j].imshow(contrast, cmap="RdBu_r", vmin=-2.5, vmax=2.5)
        axes[1, j].imshow(diff.label_images[0], cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
        im2 = axes[2, j].imshow(absolute.x[0][::-1], cmap="viridis", vmin=0, vmax=2 * diff.sigma0)
        axes[0, j].set_title(name, fontsize=9)
        for i, ax in enumerate(axes[:, j]):
            draw_tank(ax, 256 if i == 1 else contrast.shape[0])
            ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_ylabel("difference: log(sigma/sigma0)")
    axes[1, 0].set_ylabel("segmentation")
    axes[2, 0].set_ylabel("absolute: sigma")
    fig.colorbar(im0, ax=list(axes[0]), shrink=0.8)
    fig.colorbar(im2, ax=list(axes[2]), shrink=0.8, label="files' units")
    fig.suptitle("KIT4 tank, Gauss-Newton via invtools/devices/kit4.toml (electrode 1 marked)", fontsize=10)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
