"""Figure of the RMA reproduction study from the JSON files ``reproduce_rma.py`` writes.

    python -m benchmarks.studies.plot_study benchmarks/results/reproduce_rma_{blur,eit,limited}.json \
        --out benchmarks/results/reproduce_rma.png

Left: 1-D deconvolution, test MSE against the nonlinearity a (mean and std over seeds; the
zero initial guess, MSE ~0.34, is left out of the panel).
Right: EIT relative error against the training-set size, one panel per preset.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from invtools.support.atomic import atomic_path

STYLE = {"x0": ("k", ":"), "GN": ("k", "--"), "LPGD": ("C0", "-"), "LPGD-MA": ("C2", "-"),
         "LPGD-RMA": ("C0", "-."), "LPD": ("C3", "-"), "LPD-RMA": ("C3", "-.")}
EIT_PRESETS = ("eit-discs2", "eit-discs4", "eit-limited")


def _curve(ax, xs, runs_by_x, name, metric):
    values = [np.array([r[name][metric] for r in runs_by_x[x]], dtype=float) for x in xs]
    mean = np.array([v.mean() for v in values])
    std = np.array([v.std(ddof=1) if v.size > 1 else 0.0 for v in values])
    colour, line = STYLE.get(name, ("C7", "-"))
    ax.errorbar([float(x) for x in xs], mean, yerr=std, color=colour, linestyle=line, marker="o",
                markersize=3, capsize=2, label=name)


def plot(reports: list[dict], out: Path) -> None:
    merged: dict = {}
    for r in reports:
        merged.update({k: v for k, v in r.items() if k == "blur" or k in EIT_PRESETS})
    panels = (["blur"] if "blur" in merged else []) + [p for p in EIT_PRESETS if p in merged]
    if not panels:
        raise ValueError("no study results (blur or EIT presets) in the given files")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        runs = merged[panel]
        xs = sorted(runs, key=float)
        names = [n for n in STYLE if n in runs[xs[0]][0] and not (panel == "blur" and n == "x0")]
        metric = "mse" if panel == "blur" else "relative_error"
        for name in names:
            _curve(ax, xs, runs, name, metric)
        if panel == "blur":
            ax.set(xlabel="nonlinearity a", ylabel="test MSE", yscale="log",
                   title="1-D deconvolution")
        else:
            ax.set(xlabel="training samples", ylabel="relative error (conductivity)", xscale="log",
                   title=panel)
            ax.set_xticks([float(x) for x in xs], xs)
            ax.minorticks_off()
        ax.grid(alpha=0.3)
    for ax in axes[0][:2]:  # the blur panel has no x0 curve; the first EIT panel shows it
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", nargs="+", type=Path, help="JSON files written by reproduce_rma.py")
    p.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "results" / "reproduce_rma.png")
    args = p.parse_args(argv)
    plot([json.loads(path.read_text()) for path in args.reports], args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
