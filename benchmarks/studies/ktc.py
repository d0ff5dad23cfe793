"""KTC2023 tank at every difficulty level: the challenge score of every reconstruction method on
held-out simulated tank phantoms, per level, with paired 95% intervals, and a figure of the
four real targets at all seven levels.

    python -m benchmarks.studies.ktc --samples 100 --methods baseline linearized gn \\
        --models shipped=invtools/models/ktc2023.pt --json benchmarks/results/ktc_levels.json
    python -m benchmarks.studies.ktc --from-json benchmarks/results/ktc_levels.json \\
        --figure docs/ktc_levels_real.png

Phantoms: preset ``ktc2023`` with complete data (its ``[mask]`` off), seed 2 (training used 1,
validation 3); every mask is applied to the same phantoms, so differences are paired. Rows:
levels 1-7 (the challenge's rule), and ``broken``: for each phantom its own random set of 1-8
broken electrodes (seed 99), none of them a level's mask (asserted) nor one of the training
set's masks (asserted when ``--train`` names it).

Truth: the phantom evaluated at the 256 x 256 pixel centres of the organisers' frame (exact,
not the 32 x 32 image), water outside the tank. Methods: ``baseline`` (the organisers' own:
J at 1 S/m, their smoothness prior and noise model, Otsu2 on their 256 x 256 interpolation;
:mod:`invtools.devices.ktc2023.baseline`), ``linearized`` + Otsu, ``gn`` + levels, and each model
+ levels (or its own classes), as ``invtools reconstruct --segment`` does.

``--quick`` (a smoke run): 2 phantoms, Gauss-Newton on 1, and a figure of target 1 at level 7
only; ``--calibrate-levels`` at levels 1 and 7 with two weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats
import torch

from benchmarks._timing import print_table
from invtools.data.missing_data import (
    cem_patterns,
    level_mask,
    random_electrode_mask,
)
from invtools.data.recipes import Problem, Recipe, load_recipe
from invtools.devices.ktc2023.score import ktc_score

LEVELS = tuple(range(1, 8))
BROKEN = (1, 8)  # electrodes of the random-broken-electrodes row
BROKEN_SEED = 99


def complete_problem() -> Problem:
    """The ``ktc2023`` preset with complete data: masks are applied here, to the same phantoms."""
    d = load_recipe("ktc2023").to_dict()
    d["mask"] = {"type": "none"}
    return Problem(Recipe.from_dict(d))


def frame_points(n: int = 256, radius: float = 0.115) -> tuple[np.ndarray, np.ndarray]:
    """Centres (2, n*n) of the organisers' n x n frame (row 0 at the top) and which are in the tank."""
    c = -radius + (np.arange(n) + 0.5) * (2 * radius / n)
    x, y = np.meshgrid(c, c[::-1])
    points = np.stack([x.ravel(), y.ravel()])
    return points, (points**2).sum(axis=0) < radius**2


def truth_labels(problem: Problem, seed: int, index: int) -> np.ndarray:
    """The exact label image (256, 256) of sample ``index`` of ``seed``: its phantom's draws
    replayed at the frame's pixel centres (the same draws as the sample's; water outside)."""
    points, inside = frame_points()
    values = np.full(points.shape[1], float(problem.recipe.phantom["background"]))
    values[inside] = problem.phantom(np.random.default_rng([seed, index]), points[:, inside])
    labels = np.zeros(values.size, dtype=np.uint8)
    bg = float(problem.recipe.phantom["background"])
    labels[values > 1.1 * bg], labels[values < bg / 1.1] = 2, 1
    return labels.reshape(256, 256)


def masks_of(problem: Problem, n: int, seen: set[bytes] = frozenset()) -> dict[str, np.ndarray]:
    """Row name -> masks (n, m): the seven levels (the same for every phantom) and ``broken``,
    drawn again until neither a level's mask nor one in ``seen`` (the training set's)."""
    currents, measurement = cem_patterns(problem.op.config())
    out = {f"L{v}": np.tile(level_mask(currents, measurement, v), (n, 1)) for v in LEVELS}
    rng = np.random.default_rng(BROKEN_SEED)
    excluded = {m.tobytes() for m in (out[f"L{v}"][0] for v in LEVELS)} | set(seen)
    broken = []
    while len(broken) < n:
        mask, _ = random_electrode_mask(currents, measurement, rng, BROKEN)
        if mask.tobytes() not in excluded:
            broken.append(mask)
    out["broken"] = np.stack(broken)
    return out


def training_masks(train_path: str | None) -> set[bytes]:
    """The masks (as bytes of bool rows) of a training data set's samples (NaN = missing)."""
    if not train_path:
        return set()
    import h5py

    with h5py.File(train_path, "r") as f:
        return {np.isfinite(row).tobytes() for row in f["y"][:]}


def _patterns() -> tuple[np.ndarray, np.ndarray]:
    from forward_models.eit.ktc2023 import ktc_patterns

    return ktc_patterns()


def labels_of(x: np.ndarray, sigma0: float, method: str, op, **made) -> list[np.ndarray]:
    """Label images (256, 256) of the images x (B, 32, 32) that ``method`` made (and of the labels
    it ``made`` itself), decided as ``invtools reconstruct --segment`` decides them."""
    from invtools.workflow.reconstruct import Reconstruction
    from invtools.workflow.reconstruct.result import label_images

    return list(label_images(Reconstruction(x=np.asarray(x), method=method, operator=op,
                                            parametrization="log", sigma0=sigma0,
                                            pixel_rows="bottom-up", **made)))


def run_methods(args, problem: Problem, sample: dict, masks: dict[str, np.ndarray],
                truth: list[np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """scores[method][row] = per-phantom scores; plus seconds per reconstruction per method."""
    from invtools.devices.ktc2023.adapter import classical_difference, predict_difference, refined_labels
    from invtools.devices.ktc2023.baseline import organisers_baseline, prepare_baseline
    from invtools.training.trained_model import load_model

    sigma0 = float(problem.recipe.phantom["background"])
    op, n = problem.op, len(truth)
    y = sample["y"]
    water = problem.references()[1]
    scores: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, float] = {}

    def record(name: str, row: str, labels: list[np.ndarray], t: float, count: int,
               which: np.ndarray | None = None) -> None:
        """Scores of the phantoms ``which`` (default: the first len(labels)); NaN for the rest
        of the accepted ones (a model refuses masks that keep too few values)."""
        row_scores = np.full(len(labels) if which is None else n, np.nan)
        which = np.arange(len(labels)) if which is None else which
        row_scores[which] = [ktc_score(truth[i], lab) for i, lab in zip(which, labels, strict=True)]
        scores.setdefault(name, {})[row] = row_scores.tolist()
        seconds[name] = seconds.get(name, 0.0) + t / count / len(masks)
        print(f"done {name} {row}: {np.nanmean(row_scores):.3f}", file=sys.stderr, flush=True)

    step = prepare_baseline(op, water) if "baseline" in args.methods else None
    models = {name: load_model(path, device=args.device) for name, path in args.models}
    fewest = {name: trained.fewest_values() for name, trained in models.items()}  # (draws masks)
    for row, mask in masks.items():
        y_nan = np.where(mask, y, np.nan)
        if "baseline" in args.methods:
            t0 = time.perf_counter()
            labels = [organisers_baseline(y[i], water, mask[i], op, step=step)[1] for i in range(n)]
            record("baseline", row, labels, time.perf_counter() - t0, n)
        for method in ("linearized", "gn"):
            if method not in args.methods:
                continue
            k = n if method == "linearized" else min(n, args.gn_samples)
            t0 = time.perf_counter()
            x = [classical_difference(op, torch.as_tensor(y_nan[i:i + 1]), sigma0, method)[0][0]
                 for i in range(k)]
            record(method, row, labels_of(np.stack(x), sigma0, method, op), time.perf_counter() - t0, k)
        for name, trained in models.items():
            ok = mask.sum(axis=1) >= fewest[name]  # what the model accepts (else NaN)
            if not ok.any():
                continue  # e.g. a model trained on complete data, at the higher levels
            t0 = time.perf_counter()
            x = predict_difference(trained, torch.as_tensor(y_nan[ok]), sigma0)
            t = time.perf_counter() - t0
            labels = labels_of(x, sigma0, "model", op, labels=trained.labels(x),
                               label_images=refined_labels(trained, x, sigma0))
            record(name, row, labels, t, int(ok.sum()), np.nonzero(ok)[0])
    return {"scores": scores, "seconds": seconds}


def interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and paired 95% interval (t distribution) of differences d."""
    half = scipy.stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def report(results: dict, reference: str | None) -> None:
    scores, seconds = results["scores"], results["seconds"]
    rows = list(next(iter(scores.values())))
    methods = list(scores)
    table = []
    for m in methods:
        cells = [f"{np.nanmean(scores[m][r]):.3f}" if r in scores[m] else "-" for r in rows]
        levels = [np.nanmean(scores[m][f"L{v}"]) for v in LEVELS if f"L{v}" in scores[m]]
        total = f"{sum(levels):.2f}" if len(levels) == len(LEVELS) else "-"
        table.append([m, *cells, total, f"{seconds.get(m, float('nan')):.3f}"])
    n = len(next(iter(scores[methods[0]].values())))
    print(f"KTC2023 simulated tank, {n} phantoms (seed 2) per row: mean challenge score per target "
          "(1 = perfect); total = sum over the seven levels (of 7)")
    print_table(["method", *rows, "total L1-L7", "s / reconstruction"], table)
    kept = results.get("broken_kept")
    if kept is not None:
        level_kept = {f"L{v}": int(level_mask(*_patterns(), v).sum()) for v in LEVELS}
        nearest = [min(level_kept, key=lambda r, k=k: abs(level_kept[r] - k)) for k in kept]
        print()
        near_rows = []
        for m in methods:
            if "broken" not in scores[m] or any(r not in scores[m] for r in set(nearest)):
                continue
            b = np.array(scores[m]["broken"])
            a = np.array([scores[m][r][i] if i < len(scores[m][r]) else np.nan
                          for i, r in enumerate(nearest[:len(b)])])
            ok = np.isfinite(a) & np.isfinite(b)
            mean, lo, hi = interval(b[ok] - a[ok])
            near_rows.append([m, int(ok.sum()), f"{b[ok].mean():.3f}", f"{a[ok].mean():.3f}", f"{mean:+.3f}",
                              f"[{lo:+.3f}, {hi:+.3f}]"])
        print_table(["broken electrodes vs the level keeping about as many values (per phantom)",
                     "phantoms", "broken", "nearest level", "difference", "95% interval"], near_rows)
    if reference is None or reference not in scores:
        return
    print()
    diff_rows = []
    for m in methods:
        if m == reference:
            continue
        for r in rows:
            if r not in scores[m]:
                continue
            a, b = np.array(scores[reference][r]), np.array(scores[m][r])
            k = min(len(a), len(b))
            d = a[:k] - b[:k]
            d = d[np.isfinite(d)]  # the phantoms both methods reconstructed
            k = len(d)
            mean, lo, hi = interval(d)
            diff_rows.append([f"{reference} - {m}", r, k, f"{mean:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]"])
    print_table(["paired difference in score", "row", "phantoms", "mean", "95% interval"], diff_rows)


def real_figure(args, path: Path, targets=range(1, 5), levels=LEVELS) -> None:
    """Rows: each real target by each method; columns: the levels (all seven by default)."""
    from invtools.analysis.plotting import plot_label_grid
    from invtools.workflow.reconstruct import reconstruct
    from invtools.workflow.reconstruct.result import label_images

    folder = Path(args.ktc)
    methods = {"baseline (organisers')": ("baseline", None), "linearized": ("linearized", None),
               "GN": ("gn", None), **{n: ("model", p) for n, p in args.models}}
    rows, seconds = {}, dict.fromkeys(methods, 0.0)
    for target in targets:
        for name, (method, model) in methods.items():
            row = rows.setdefault(f"target {target}: {name}", {})
            for level in levels:
                sub = folder if level == 1 else folder / "levels" / f"level{level}"
                t0 = time.perf_counter()
                rec = reconstruct(sub / f"data{target}.mat", model=model, method=method)
                row[f"level {level}"] = label_images(rec)[0]
                seconds[name] += (time.perf_counter() - t0) / (len(targets) * len(levels))
    print_table(["real files: method", "s / file (reading, water fit, segmentation included)"],
                [[m, f"{s:.2f}"] for m, s in seconds.items()])
    plot_label_grid(rows, path, "KTC2023 tank, real data at every level (level L: electrodes 1..2(L-1) "
                    "removed, 0-1843 of 2356 values missing):\nwater (light), resistive (blue), "
                    "conductive (red)")


def calibrate_levels(n: int = 40, seed: int = 123, quick: bool = False) -> None:
    """Mean score per level and prior weight of the one-step methods on n samples of a training
    seed (not the test seed): whether the tank's weights need a rule in the mask. One Jacobian,
    one factorisation per level and weight."""
    import scipy.linalg

    from invtools.classical.regularization import make_prior
    from invtools.devices.ktc2023.adapter import KTC_LINEARIZED_LAM, KTC_LOG_LAM

    problem = complete_problem()
    s = problem.samples(np.arange(n), seed)
    sigma0 = float(problem.recipe.phantom["background"])
    truth = [truth_labels(problem, seed, i) for i in range(n)]
    R = make_prior("laplacian", problem.op.in_shape, None, 0.01).hessian(np.zeros(problem.op.n_in))
    R = R.toarray() if hasattr(R, "toarray") else R
    currents, measurement = cem_patterns(problem.op.config())
    factors = (1.0, 3.0) if quick else (0.1, 0.3, 1.0, 3.0, 10.0)  # quick: levels 1 and 7 only
    rows = []
    cases = (("log-conductivity (x0, GN's start)", problem.net_op, KTC_LOG_LAM, "gn"),
             ("conductivity (linearized)", problem.op, KTC_LINEARIZED_LAM, "linearized"))
    for variable, op, base, method in cases:
        start = np.log(sigma0) if variable.startswith("log") else sigma0
        x_ref = torch.full((1, *op.in_shape), start, dtype=torch.float64)
        J = op.jacobian(x_ref)[0].numpy().reshape(op.n_out, -1)
        with torch.no_grad():
            dy = s["y"] - op(x_ref)[0].numpy()
        for v in (1, 7) if quick else LEVELS:
            keep = level_mask(currents, measurement, v)
            Jk, cells = J[keep], []
            for f in factors:
                c = scipy.linalg.cho_factor(Jk.T @ Jk + f * base * R)
                step = scipy.linalg.cho_solve(c, Jk.T @ dy[:, keep].T).T.reshape(n, *op.in_shape)
                x = np.exp(start + np.clip(step, -6, 6)) if variable.startswith("log") else start + step
                scores = [ktc_score(t, lab) for t, lab in zip(truth, labels_of(x, sigma0, method, problem.op),
                                                               strict=True)]
                cells.append(float(np.mean(scores)))
            best = factors[int(np.argmax(cells))]
            rows.append([variable, f"L{v}", *[f"{c:.3f}" for c in cells], f"x{best:g}"])
    print(f"calibration: {n} samples of the ktc2023 preset (complete data, masks applied), seed {seed}; "
          "columns: the prior weight as a multiple of the tank's (KTC_LOG_LAM, KTC_LINEARIZED_LAM)")
    print_table(["variable", "level", *[f"x{f:g}" for f in factors], "best"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--gn-samples", type=int, default=100, help="GN is the slow one (~1.5 s each)")
    p.add_argument("--methods", nargs="*", default=["baseline", "linearized", "gn"],
                   choices=["baseline", "linearized", "gn"])
    p.add_argument("--models", nargs="*", default=[], metavar="NAME=CHECKPOINT")
    p.add_argument("--reference", default=None, help="the method whose paired differences are shown")
    p.add_argument("--train", help="training data set: the broken row avoids its masks")
    p.add_argument("--json", help="write the per-phantom scores here")
    p.add_argument("--from-json", nargs="*", default=[], help="combine earlier --json results")
    p.add_argument("--ktc", default=str(Path(__file__).parents[2].parent / "shared" / "ktc2023"))
    p.add_argument("--figure", help="PNG of the four real targets at every level by every method")
    p.add_argument("--device", default="cpu")
    p.add_argument("--calibrate-levels", type=int, metavar="N",
                   help="only the per-level prior-weight sweep on N samples")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 2 phantoms, GN on 1, the figure of target 1 at level 7; "
                        "the calibration at levels 1 and 7 with two weights")
    args = p.parse_args()
    if args.quick:
        args.samples, args.gn_samples = 2, 1
    if args.calibrate_levels:
        calibrate_levels(args.calibrate_levels, quick=args.quick)
        return
    args.models = [tuple(m.split("=", 1)) for m in args.models]
    results: dict = {"scores": {}, "seconds": {}}
    for path in args.from_json:
        old = json.loads(Path(path).read_text())
        results["scores"].update(old["scores"])
        results["seconds"].update(old["seconds"])
        results.setdefault("broken_kept", old.get("broken_kept"))
    if args.methods or args.models:
        problem = complete_problem()
        sample = problem.samples(np.arange(args.samples), 2)
        truth = [truth_labels(problem, 2, i) for i in range(args.samples)]
        seen = training_masks(args.train)
        masks = masks_of(problem, args.samples, seen)
        kept = masks["broken"].sum(axis=1)
        print(f"broken row: {args.samples} masks of {BROKEN[0]}-{BROKEN[1]} electrodes keeping "
              f"{kept.min()}-{kept.max()} values, none a level's"
              + (f" nor one of the {len(seen)} masks of {args.train}" if seen else ""), file=sys.stderr)
        results["broken_kept"] = kept.tolist()
        new = run_methods(args, problem, sample, masks, truth)
        results["scores"].update(new["scores"])
        results["seconds"].update(new["seconds"])
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results))
    if results["scores"]:
        report(results, args.reference)
    if args.figure:
        real_figure(args, Path(args.figure), *(((1,), (7,)) if args.quick else ()))
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
