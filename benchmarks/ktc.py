"""KTC2023 tank: the challenge score of every reconstruction method on held-out simulated tank
phantoms (preset ``ktc2023``), and figures of the four real targets.

    invtools generate ktc2023 --out data/ktc_test.h5 -n 200 --seed 2
    python benchmarks/ktc.py --test data/ktc_test.h5 \\
        --models U-Net=runs/ktc-unet/best.pt LPGD=runs/ktc-lpgd/best.pt LPGD-RMA=runs/ktc-lpgd-rma/best.pt \\
        --figure docs/ktc_real.png

Score: the challenge's (mean over the conductive and resistive classes of the SSIM of the
class indicators, 256 x 256, 1 = perfect), per target; the truth's labels are its pixels'
contrast. Segmentation: three-class Otsu on sigma - sigma0 (the organisers' baseline; what
``reconstruct --segment`` uses for the linearised step) and fixed levels
|log(sigma / sigma0)| > 1 (what it uses for Gauss-Newton and trained models, whose images are
calibrated log-conductivities). Relative error: of log-conductivity inside the tank. Time:
per reconstruction, one at a time for the classical methods, in batches for the networks. The
last table compares the best learned row with linearised + Otsu, paired over the same
phantoms (mean difference, 95% interval by the t distribution).
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
from invtools.segmentation import contrast_labels, grid_to_pixels, segment_conductivity  # noqa: E402

SEGMENTATIONS = ("Otsu", "levels")
TRUTH_MARGIN = 0.1  # relative contrast below which a truth's pixel is water (inclusions: > 5x)


def labels(x: np.ndarray, sigma0: float, rule: str) -> np.ndarray:
    """Label image (256, 256) in the organisers' frame of a 32 x 32 tank image (S/m)."""
    return segment_conductivity(grid_to_pixels(x), sigma0, rule.lower())


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
    # the files store float32: water pixels are sigma0 only to 1e-7, so the classes need a margin
    truth_labels = [contrast_labels(np.nan_to_num(grid_to_pixels(t - sigma0)), TRUTH_MARGIN * sigma0)
                    for t in truth]
    images: dict[str, tuple[np.ndarray, float]] = {}
    for method in ("linearized", "gn"):
        k = n if method == "linearized" else min(n, args.gn_samples)
        t0 = time.perf_counter()
        x = np.concatenate([classical_difference(op, y[i:i + 1], sigma0, method)[0] for i in range(k)])
        images[method] = (x, (time.perf_counter() - t0) / k)
        print(f"done {method}", file=sys.stderr)
    for name, path in args.models:
        trained = load_model(path, device=args.device)
        predict_difference(trained, y[:2], sigma0)  # warm-up (CUDA context, kernels)
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
    from invtools.plotting import plot_label_grid
    from invtools.reconstruct.ktc2023 import reconstruct_targets

    methods = {"linearized + Otsu": "linearized", "GN + levels": "gn", **{n: p for n, p in args.models}}
    labels, seconds = reconstruct_targets(args.ktc, methods)
    print()
    print_table(["real targets: method", "s / file (incl. reading and the water fit)"],
                [[m, f"{s:.2f}"] for m, s in seconds.items()])
    plot_label_grid(labels, path, "KTC2023 tank, real data: water (light), resistive (blue), "
                    "conductive (red)")


def calibrate(n: int, seed: int = 123) -> None:
    """Mean score over n samples of a training seed (not the test seed) for each prior weight:
    how the tank's weights (invtools.reconstruct.ktc2023) and the preset's x0 weight were chosen."""
    from invtools.classical import ClassicalConfig
    from invtools.recipes import Problem, load_recipe

    problem = Problem(load_recipe("ktc2023"))
    s = problem.samples(np.arange(n), seed)
    sigma0 = float(problem.recipe.phantom["background"])
    truth = [contrast_labels(np.nan_to_num(grid_to_pixels(x - sigma0))) for x in s["x"]]
    y = torch.as_tensor(s["y"])
    rows = []
    for method, rule, lams, k in (("linearized", "Otsu", (1e-6, 1e-5, 1e-4, 1e-3), n),
                                  ("x0 (log step)", "levels", (1e-5, 1e-4, 1e-3), n),
                                  ("gn", "Otsu", (1e-5, 1e-4, 1e-3), min(n, 20)),
                                  ("gn", "levels", (1e-6, 1e-5, 1e-4), min(n, 20))):
        for lam in lams:
            if method == "x0 (log step)":
                x0 = dict(problem.recipe.x0, lam=lam)
                from invtools.recipes import initial_guess
                x = initial_guess(problem.net_op, "log", x0, 0.0, s["y"][:k])
            else:
                x = np.concatenate([classical_difference(problem.op, y[i:i + 1], sigma0, method,
                                                         ClassicalConfig(lam=lam))[0] for i in range(k)])
            scores = [ktc_score(truth[i], labels(x[i], sigma0, rule)) for i in range(k)]
            rows.append([method, rule, f"{lam:g}", k, f"{np.mean(scores):.3f}"])
            print(f"done {method} {lam:g}", file=sys.stderr)
    print(f"calibration: {n} samples of the ktc2023 preset, seed {seed}")
    print_table(["method", "segmentation", "prior weight", "samples", "mean score"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test", default="data/ktc_test.h5")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--gn-samples", type=int, default=200, help="GN is the slow one")
    p.add_argument("--models", nargs="*", default=[], metavar="NAME=CHECKPOINT")
    p.add_argument("--ktc", default=str(Path(__file__).parents[1].parent / "shared" / "ktc2023"))
    p.add_argument("--figure", help="PNG of the four real targets by every method")
    p.add_argument("--device", default="cpu", help="where the networks run (cpu, cuda)")
    p.add_argument("--calibrate", type=int, metavar="N", help="only the prior-weight sweep on N samples")
    args = p.parse_args()
    if args.calibrate:
        calibrate(args.calibrate)
        return
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
        gn = results["gn + levels"]["score"]
        dg = gn - base[:len(gn)]
        print()
        print_table(["paired difference in score", "phantoms", "mean", "95% interval"],
                    [[f"{best} - linearized + Otsu", len(d), f"{d.mean():+.3f}",
                      f"[{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]"],
                     ["gn + levels - linearized + Otsu", len(dg), f"{dg.mean():+.3f}", ""]])
    if args.figure:
        real_figure(args, Path(args.figure))
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
