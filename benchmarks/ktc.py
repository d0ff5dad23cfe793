"""KTC2023 tank: the challenge score of every reconstruction method on held-out simulated tank
phantoms (preset ``ktc2023``), and figures of the four real targets.

    invtools generate ktc2023 --out data/ktc_test.h5 -n 200 --seed 2
    python benchmarks/ktc.py --test data/ktc_test.h5 \\
        --models U-Net=runs/ktc-unet/best.pt LPGD=runs/ktc-lpgd/best.pt LPGD-RMA=runs/ktc-lpgd-rma/best.pt \\
        --figure docs/ktc_real.png

Score: the challenge's (mean over the conductive and resistive classes of the SSIM of the
class indicators, 256 x 256, 1 = perfect), per target; the truth's labels are its pixels'
contrast. Segmentation: three-class Otsu on sigma - sigma0 (the organisers' baseline) and
fixed levels |log(sigma / sigma0)| > 1 (the rule ``reconstruct --segment`` uses for trained
models). Relative error: of log-conductivity inside the tank. Time: per reconstruction, one
at a time for the classical methods, in batches for the networks. The last table compares the
best learned row with linearised + Otsu, paired over the same phantoms (mean difference,
95% interval by the t distribution).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import print_table  # noqa: E402

from invtools.data import H5Dataset  # noqa: E402
from invtools.metrics import ktc_score  # noqa: E402
from invtools.model import load_model  # noqa: E402
from invtools.reconstruct.ktc2023 import classical_difference, predict_difference  # noqa: E402
from invtools.reconstruct.result import MODEL_LEVEL  # noqa: E402
from invtools.segmentation import contrast_labels, grid_to_pixels, segment_levels, segment_three_classes  # noqa: E402

SEGMENTATIONS = ("Otsu", "levels")


def labels(x: np.ndarray, sigma0: float, rule: str) -> np.ndarray:
    """Label image (256, 256) in the organisers' frame of a 32 x 32 tank image (S/m)."""
    image = grid_to_pixels(x)
    if rule == "Otsu":
        return segment_three_classes(image - sigma0)
    return segment_levels(np.log(np.clip(image, 1e-12, None) / sigma0), MODEL_LEVEL)


def log_error(x: np.ndarray, truth: np.ndarray) -> float:
    inside = np.isfinite(grid_to_pixels(truth, 32))
    a, b = np.log(np.clip(x, 1e-12, None))[inside], np.log(truth)[inside]
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def simulated(args) -> dict[str, dict[str, np.ndarray]]:
    test = H5Dataset(args.test)
    n = min(len(test), args.samples)
    items = [test[i] for i in range(n)]
    truth = np.exp(torch.stack([it[0] for it in items]).double().numpy())  # the preset is in log
    y = torch.stack([it[1] for it in items]).double()
    sigma0 = float(test.attrs["recipe"]["phantom"]["background"])
    op = test.physical_operator()
    truth_labels = [contrast_labels(np.nan_to_num(grid_to_pixels(t - sigma0))) for t in truth]
    images: dict[str, tuple[np.ndarray, float]] = {}
    for method in ("linearized", "gn"):
        k = n if method == "linearized" else min(n, args.gn_samples)
        t0 = time.perf_counter()
        x = np.concatenate([classical_difference(op, y[i:i + 1], sigma0, method)[0] for i in range(k)])
        images[method] = (x, (time.perf_counter() - t0) / k)
        print(f"done {method}", file=sys.stderr)
    for name, path in args.models:
        trained = load_model(path)
        t0 = time.perf_counter()
        x = predict_difference(trained, y, sigma0)
        images[name] = (x, (time.perf_counter() - t0) / n)
        print(f"done {name}", file=sys.stderr)
    results = {}
    for name, (x, seconds) in images.items():
        for rule in SEGMENTATIONS:
            scores = np.array([ktc_score(truth_labels[i], labels(x[i], sigma0, rule))
                               for i in range(len(x))])
            errors = np.array([log_error(x[i], truth[i]) for i in range(len(x))])
            results[f"{name} + {rule}"] = {"score": scores, "error": errors, "seconds": seconds}
    return results


def real_figure(args, path: Path) -> None:
    """Rows: the four real targets; columns: every method's label image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from invtools.atomic import atomic_path
    from invtools.reconstruct import reconstruct
    from invtools.reconstruct.result import label_images

    methods = [("linearized", None), ("gn", None)] + [(name, p) for name, p in args.models]
    fig, axes = plt.subplots(4, len(methods), figsize=(2.2 * len(methods), 8.8), squeeze=False)
    cmap = ListedColormap(["#d9e8f5", "#3b4cc0", "#b40426"])
    for row in range(4):
        for col, (name, model) in enumerate(methods):
            t0 = time.perf_counter()
            rec = reconstruct(Path(args.ktc) / f"data{row + 1}.mat", model=model,
                              method=None if model else name)
            seconds = time.perf_counter() - t0
            ax = axes[row, col]
            ax.imshow(label_images(rec)[0], cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{name} ({seconds:.1f} s)" if row == 0 else f"{seconds:.1f} s", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"data{row + 1}.mat")
    fig.suptitle("KTC2023 tank, real data: water (light), resistive (blue), conductive (red)", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test", default="data/ktc_test.h5")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--gn-samples", type=int, default=200, help="GN is the slow one")
    p.add_argument("--models", nargs="*", default=[], metavar="NAME=CHECKPOINT")
    p.add_argument("--ktc", default=str(Path(__file__).parents[1].parent / "shared" / "ktc2023"))
    p.add_argument("--figure", help="PNG of the four real targets by every method")
    args = p.parse_args()
    args.models = [tuple(m.split("=", 1)) for m in args.models]
    results = simulated(args)
    rows = [[name, len(r["score"]), f"{r['score'].mean():.3f} ± {r['score'].std(ddof=1):.3f}",
             f"{r['error'].mean():.3f}", f"{r['seconds']:.3f}"] for name, r in results.items()]
    print(f"KTC2023 simulated tank ({args.test}): challenge score per target (mean ± std over phantoms)")
    print_table(["method + segmentation", "phantoms", "score", "relative error (log sigma)",
                 "s / reconstruction"], rows)
    base = results["linearized + Otsu"]["score"]
    learned = [k for k in results if not k.startswith(("linearized", "gn"))]
    if learned:
        best = max(learned, key=lambda k: results[k]["score"].mean())
        d = results[best]["score"] - base
        half = scipy.stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        gn = results["gn + Otsu"]["score"]
        dg = gn - base[:len(gn)]
        print()
        print_table(["paired difference in score", "phantoms", "mean", "95% interval"],
                    [[f"{best} - linearized + Otsu", len(d), f"{d.mean():+.3f}",
                      f"[{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]"],
                     ["gn + Otsu - linearized + Otsu", len(dg), f"{dg.mean():+.3f}", ""]])
    if args.figure:
        real_figure(args, Path(args.figure))
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
