"""The KIT4 tank's five shared files reconstructed by Gauss-Newton and by the shipped KIT4 model
through its device description (``invtools/devices/kit4.toml``): the calibration, the figure of
docs/kit4_files.png, and the check of the measurement pattern the description uses.

    python -m benchmarks.studies.kit4_devices [--kit4 ../shared/kit4] [--figure docs/kit4_files.png] \\
        [--model kit4]
    python -m benchmarks.studies.kit4_devices --patterns   # the two measurement patterns' fits only

Prints the fitted background conductivity sigma0 (in the files' units: stored currents and
voltages, 2-D), the contact impedance and the relative misfit of the homogeneous fit to
datamat_1_0; with ``--patterns``, that misfit for the files' MeasPattern (row j: U_j - U_{j-1})
and for the adjacent differences U_j - U_{j+1} that the description names; then per file, the
pixels labelled resistive and conductive (of 256 x 256) by difference and by absolute imaging
and by the model, and the seconds each took. The figure: per file, log(sigma / sigma0) of
difference imaging by Gauss-Newton and by the model, their segmentations, and the absolute image.
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
    p.add_argument("--figure", default="docs/kit4_files.png")
    p.add_argument("--model", default="kit4", help="a trained KIT4 model (default: the shipped one); "
                   "'none' leaves its rows out")
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
        model = None if args.model == "none" else reconstruct(path, device="kit4", model=args.model)
        t3 = time.perf_counter()
        made = [r for r in (diff, absolute, model) if r is not None]
        count = [int((r.label_images == c).sum()) for r in made for c in (1, 2)]
        seconds = [t1 - t0, t2 - t1, *([t3 - t2] if model else [])]
        rows.append([name, *count, *(f"{t:.1f}" for t in seconds)])
        columns[name] = (diff, absolute, model)
    print(f"sigma0 {diff.sigma0:.4g}, z {diff.contact_impedance:.3g} Ohm m^2, misfit "
          f"{diff.calibration_misfit:.4f}")
    with_model = args.model != "none"
    print_table(["file", "diff resistive", "diff conductive", "abs resistive", "abs conductive",
                 *(["model resistive", "model conductive"] if with_model else []), "diff s", "abs s",
                 *(["model s"] if with_model else [])], rows)
    figure(columns, Path(args.figure))
    print(f"wrote {args.figure}")


def figure(columns: dict, out: Path) -> None:
    """Rows: Gauss-Newton's difference log(sigma / sigma0) and its labels, the model's (when
    given) and its labels, absolute sigma; columns: the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from invtools.analysis.plotting import draw_tank
    from invtools.analysis.segmentation import LABEL_COLOURS
    from invtools.support.atomic import atomic_path

    with_model = next(iter(columns.values()))[2] is not None
    n_rows = 5 if with_model else 3
    fig, axes = plt.subplots(n_rows, len(columns), figsize=(2.3 * len(columns), 2.3 * n_rows + 0.1),
                             layout="constrained", squeeze=False)
    cmap = matplotlib.colors.ListedColormap(LABEL_COLOURS)
    for j, (name, (diff, absolute, model)) in enumerate(columns.items()):
        pairs = [diff, model] if with_model else [diff]
        for k, rec in enumerate(pairs):
            contrast = np.log(rec.x[0] / rec.sigma0)[::-1]  # row 0 at the top
            im0 = axes[2 * k, j].imshow(contrast, cmap="RdBu_r", vmin=-2.5, vmax=2.5)
            axes[2 * k + 1, j].imshow(rec.label_images[0], cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
        im2 = axes[-1, j].imshow(absolute.x[0][::-1], cmap="viridis", vmin=0, vmax=2 * diff.sigma0)
        axes[0, j].set_title(name, fontsize=9)
        for i, ax in enumerate(axes[:, j]):
            draw_tank(ax, 256 if i in (1, 3) else contrast.shape[0])
            ax.set_xticks([]), ax.set_yticks([])
    labels = ["Gauss-Newton:\nlog(sigma/sigma0)", "Gauss-Newton:\nsegmentation"]
    labels += ["model: log(sigma/sigma0)", "model: segmentation"] if with_model else []
    for ax, text in zip(axes[:, 0], [*labels, "absolute GN: sigma"], strict=True):
        ax.set_ylabel(text, fontsize=8)
    fig.colorbar(im0, ax=list(axes[:-1].ravel()), shrink=0.5)
    fig.colorbar(im2, ax=list(axes[-1]), shrink=0.8, label="files' units")
    fig.suptitle("KIT4 tank via invtools/devices/kit4.toml: difference imaging by Gauss-Newton"
                 + (" and the shipped model" if with_model else "") + ", absolute by Gauss-Newton",
                 fontsize=10)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
