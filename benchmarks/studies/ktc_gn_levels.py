"""Gauss-Newton's segmentation levels on the tank, chosen on simulated phantoms, then checked on
the 28 real cases against the organisers' baseline.

    python -m benchmarks.studies.ktc_gn_levels --samples 40 --json benchmarks/results/ktc_gn_levels.json
    python -m benchmarks.studies.ktc_gn_levels --from-json benchmarks/results/ktc_gn_levels.json

``gn`` images are cut into labels by levels of the log-contrast ``l = log(sigma / sigma0)``. A
class with sign s (+1 conductive, -1 resistive) takes the pixels where

    s l > max(t, a * max(s l))

a fixed level t (the device's rule: t = 1, a = 0) or, with a > 0, a fraction a of the image's
own extreme contrast of that sign when that is higher. The challenge score is the mean of a
conductive and a resistive half, and each half depends on its own class's (t, a) only, so the
two are chosen apart. Every (t, a) of :data:`LEVELS` x :data:`FRACTIONS` is scored on

1. ``--samples`` simulated phantoms of the calibration seed 123 (not the benchmark's test seed
   2) at each of the seven levels, reconstructed as :mod:`benchmarks.studies.ktc` does; the best
   mean half over all levels is *chosen here*, per class;
2. the 28 real cases (4 training targets x 7 levels, ``GroundTruths/``), reconstructed as
   ``invtools reconstruct --method gn`` does, which only *validate* the choice: the real rows
   print the device's rule, the chosen one and the organisers' baseline (its real per-case
   scores from ``--baseline-json``, ``ktc_real.py``'s output). For the record they also print
   the best rule on the real cases, which is not a choice (it is tuned on the four targets).
   Their labels are resampled to the tank's label frame (``[image] label_frame``), as the
   device's are; the simulated phantoms' labels share their truths' frame.

The Gauss-Newton images go to ``--images`` (an ``.npz``), from which ``--from-images`` rescoring
needs no reconstruction. ``--quick``: 1 phantom and target 1, at level 7 (a smoke run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks._timing import print_table
from benchmarks.studies.ktc import LEVELS as KTC_LEVELS
from benchmarks.studies.ktc import complete_problem, level_mask, truth_labels
from benchmarks.studies.ktc_real import TARGETS, case_path, read_truth, real_means
from invtools.analysis.segmentation import CONDUCTIVE, RESISTIVE, WATER, grid_to_pixels
from invtools.devices import load_description
from invtools.devices.ktc2023.score import ktc_score, ktc_ssim
from invtools.devices.label_frame import frame_labels

LEVELS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)  # t: |log(sigma / sigma0)|
FRACTIONS = (0.0, 0.3, 0.5, 0.7)  # a: of the image's extreme contrast of the class's sign
DEVICE_RULE = (1.0, 0.0)  # (t, a) of invtools/devices/ktc2023.toml for both classes
CALIBRATION_SEED = 123
RESULTS = Path(__file__).resolve().parents[1] / "results"
CLASSES = {"conductive": (CONDUCTIVE, 1.0), "resistive": (RESISTIVE, -1.0)}


def log_contrast(image: np.ndarray, sigma0: float) -> np.ndarray:
    """``log(sigma / sigma0)`` (256, 256) of a 32 x 32 conductivity image (S/m); 0 outside."""
    return np.nan_to_num(np.log(np.clip(grid_to_pixels(image.reshape(32, 32)), 1e-12, None) / sigma0))


def class_pixels(lc: np.ndarray, sign: float, t: float, a: float) -> np.ndarray:
    """(256, 256) bool: where ``sign * lc > max(t, a * max(sign * lc))``."""
    signed = sign * lc
    return signed > max(t, a * float(signed.max()))


def labels_by_rule(lc: np.ndarray, rules: dict[str, tuple[float, float]]) -> np.ndarray:
    """Three-class labels of a log-contrast image by one (t, a) per class."""
    labels = np.full(lc.shape, WATER, dtype=np.uint8)
    for name, (label, sign) in CLASSES.items():
        labels[class_pixels(lc, sign, *rules[name])] = label
    return labels


def framed(pixels: np.ndarray, frame: float) -> np.ndarray:
    """Labels or a class's pixels (256, 256) resampled to a label frame (1: unchanged)."""
    return frame_labels(pixels.astype(np.uint8), frame).astype(pixels.dtype)


def half_scores(images: np.ndarray, sigma0s: np.ndarray, truths: list[np.ndarray],
                frame: float = 1.0) -> dict[str, dict[str, list]]:
    """class -> ``"t,a"`` -> that half of the score (SSIM of the class indicator) per image, its
    pixels in the label frame ``frame``."""
    out: dict[str, dict[str, list]] = {name: {} for name in CLASSES}
    for x, s, truth in zip(images, sigma0s, truths, strict=True):
        lc = log_contrast(x, s)
        for name, (label, sign) in CLASSES.items():
            target = (truth == label).astype(float)
            for t, a in itertools.product(LEVELS, FRACTIONS):
                ssim = ktc_ssim(target, framed(class_pixels(lc, sign, t, a), frame).astype(float))
                out[name].setdefault(f"{t},{a}", []).append(ssim)
    return out


def simulated_images(n: int, levels) -> tuple[np.ndarray, float]:
    """Gauss-Newton images (levels, n, 1024) of ``n`` phantoms of the calibration seed, and sigma0."""
    from forward_models.eit.ktc2023 import ktc_patterns
    from invtools.devices.ktc2023.adapter import classical_difference

    problem = complete_problem()
    s = problem.samples(np.arange(n), CALIBRATION_SEED)
    sigma0 = float(problem.recipe.phantom["background"])
    currents, measurement = ktc_patterns()
    out = []
    for v in levels:
        y = np.where(level_mask(currents, measurement, v), s["y"], np.nan)
        out.append([classical_difference(problem.op, torch.as_tensor(y[i:i + 1]), sigma0, "gn")[0][0].ravel()
                    for i in range(n)])
        print(f"simulated L{v}: done", file=sys.stderr, flush=True)
    return np.asarray(out), sigma0


def real_images(folder: Path, targets, levels) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Newton images (levels, targets, 1024) of the real cases and their sigma0, checked
    against the device's own labels (:func:`~invtools.workflow.reconstruct.result.label_images`,
    in the tank's label frame)."""
    from invtools.workflow.reconstruct import reconstruct
    from invtools.workflow.reconstruct.result import label_images

    images, sigma0s = [], []
    for v in levels:
        row, s_row = [], []
        for target in targets:
            rec = reconstruct(case_path(folder, target, v), method="gn")
            rule = dict.fromkeys(CLASSES, DEVICE_RULE)
            ours = labels_by_rule(log_contrast(rec.x[0], rec.sigma0), rule)
            if not np.array_equal(framed(ours, rec.label_frame), label_images(rec)[0]):
                raise AssertionError("labels_by_rule differs from the device's own labelling")
            row.append(rec.x[0].ravel())
            s_row.append(rec.sigma0)
        images.append(row)
        sigma0s.append(s_row)
        print(f"real L{v}: done", file=sys.stderr, flush=True)
    return np.asarray(images), np.asarray(sigma0s)


def contrast(images: np.ndarray, sigma0s: np.ndarray, truths: list[np.ndarray],
             frame: float = 1.0) -> dict[str, list[float]]:
    """Per image: the largest and the smallest log-contrast, and for each class the truth has,
    the device's rule's labelled area (in the label frame ``frame``) over the truth's."""
    out: dict[str, list[float]] = {"max": [], "min": [], "area_conductive": [], "area_resistive": []}
    device = dict.fromkeys(CLASSES, DEVICE_RULE)
    for x, s, truth in zip(images, sigma0s, truths, strict=True):
        lc = log_contrast(x, s)
        labels = framed(labels_by_rule(lc, device), frame)
        out["max"].append(float(lc.max()))
        out["min"].append(float(lc.min()))
        for name, (label, _) in CLASSES.items():
            if (truth == label).any():
                out[f"area_{name}"].append(float((labels == label).sum() / (truth == label).sum()))
    return out


def score(images: dict, folder: Path) -> dict:
    """Per-image halves of every rule, simulated and real, from the images of :func:`collect`."""
    levels, n = [int(v) for v in images["levels"]], int(images["samples"])
    targets = [int(t) for t in images["targets"]]
    problem = complete_problem()
    sim_truths = [truth_labels(problem, CALIBRATION_SEED, i) for i in range(n)]
    real_truths = [read_truth(folder, t) for t in targets]
    frame = float(load_description("ktc2023")["image"]["label_frame"])  # the real labels' frame
    out = {"samples": n, "seed": CALIBRATION_SEED, "targets": targets, "simulated": {}, "real": {},
           "frame": frame}
    for k, v in enumerate(levels):
        out["simulated"][f"L{v}"] = half_scores(images["sim"][k], np.full(n, float(images["sim_sigma0"])),
                                                sim_truths)
        out["real"][f"L{v}"] = half_scores(images["real"][k], images["real_sigma0"][k], real_truths, frame)
        sets = {"simulated": (images["sim"][k], np.full(n, float(images["sim_sigma0"])), sim_truths, 1.0),
                "real": (images["real"][k], images["real_sigma0"][k], real_truths, frame)}
        for name, (x, s0, truths, f) in sets.items():
            for key, values in contrast(x, s0, truths, f).items():
                out.setdefault("contrast", {}).setdefault(name, {}).setdefault(key, []).extend(values)
        print(f"scored L{v}", file=sys.stderr, flush=True)
    # the device's rule through the challenge score itself: the halves add up to it
    device = dict.fromkeys(CLASSES, DEVICE_RULE)
    for k, v in enumerate(levels):
        direct = [ktc_score(t, framed(labels_by_rule(log_contrast(x, s), device), frame))
                  for x, s, t in zip(images["real"][k], images["real_sigma0"][k], real_truths, strict=True)]
        halves = [0.5 * (c + r) for c, r in zip(*(out["real"][f"L{v}"][name][rule_key(DEVICE_RULE)]
                                                   for name in CLASSES), strict=True)]
        if not np.allclose(direct, halves, rtol=0, atol=1e-12):
            raise AssertionError("the halves' sum differs from the challenge score")
    return out


def rule_key(rule: tuple[float, float]) -> str:
    return f"{rule[0]},{rule[1]}"


def baseline_real(path: Path) -> dict[str, float]:
    """level -> the organisers' baseline's real score summed over the targets (``ktc_real.py --json``)."""
    cases = json.loads(Path(path).read_text())["cases"]
    n_targets = len({c["target"] for c in cases})
    return {f"L{v}": mean * n_targets for v, mean in real_means(cases)["baseline"].items()}


def totals(halves: dict, rules: dict[str, str], levels: list[str]) -> list[float]:
    """Per level: the score summed over the images (the mean of the two halves, added up)."""
    def level(v: str) -> float:
        pairs = zip(halves[v]["conductive"][rules["conductive"]], halves[v]["resistive"][rules["resistive"]],
                    strict=True)
        return float(sum(0.5 * (c + r) for c, r in pairs))

    return [level(v) for v in levels]


def report(results: dict) -> dict[str, str]:
    """Print the simulated choice and the real check; returns the chosen rule per class."""
    sim, real, levels = results["simulated"], results["real"], list(results["simulated"])
    keys = list(sim[levels[0]]["conductive"])
    device = dict.fromkeys(CLASSES, rule_key(DEVICE_RULE))
    chosen = {}
    print(f"Gauss-Newton's levels: {results['samples']} simulated phantoms of seed {results['seed']} per "
          "level; mean half of the score (SSIM of the class) per rule (t, a), the best four and the device's")
    for name in CLASSES:
        mean = {k: float(np.mean([np.mean(sim[v][name][k]) for v in levels])) for k in keys}
        chosen[name] = max(keys, key=mean.get)
        top = sorted(keys, key=mean.get, reverse=True)[:4]
        rows = [[name, k + (" (device)" if k == device[name] else ""),
                 *[f"{np.mean(sim[v][name][k]):.3f}" for v in levels], f"{mean[k]:.3f}"]
                for k in dict.fromkeys([*top, device[name]])]
        print_table(["class", "t,a", *levels, "mean"], rows)
    if "contrast" in results:
        rows = []
        for name in ("simulated", "real"):
            c = results["contrast"][name]
            rows.append([name, *[f"{np.median(c[k]):.2f}" if c[k] else "-"
                                 for k in ("max", "min", "area_conductive", "area_resistive")]])
        print("Gauss-Newton's images, median over every image and level: the largest and the smallest "
              "log-contrast, and the device's rule's labelled area over the truth's, per class")
        print_table(["images", "max log-contrast", "min log-contrast", "area conductive", "area resistive"],
                    rows)
    print(f"chosen on the simulated phantoms: conductive {chosen['conductive']}, "
          f"resistive {chosen['resistive']}")
    sim_rows = [[label, *[f"{s / results['samples']:.3f}" for s in totals(sim, rules, levels)]]
                for label, rules in (("device", device), ("chosen", chosen))]
    print_table(["simulated, mean score", *levels], sim_rows)
    on_real = {name: max(keys, key=lambda k, name=name: sum(sum(real[v][name][k]) for v in levels))
               for name in CLASSES}
    print(f"\nthe {len(results['targets'])} real targets: score summed over the targets per level "
          "(validation: nothing here chose the rule)")
    rows = []
    for label, rules in (("gn, device's rule", device), ("gn, chosen rule", chosen),
                         (f"gn, best on the real cases (not a choice: con {on_real['conductive']}, "
                          f"res {on_real['resistive']})", on_real)):
        per = totals(real, rules, levels)
        rows.append([label, *[f"{s:.2f}" for s in per], f"{sum(per):.2f}"])
    base = results.get("baseline", {})
    if base:
        rows.append(["baseline", *[f"{base[v]:.2f}" for v in levels], f"{sum(base[v] for v in levels):.2f}"])
    print_table(["", *levels, "total"], rows)
    if base:
        below = [v for v, s in zip(levels, totals(real, chosen, levels), strict=True) if s < base[v]]
        print(f"chosen rule below the baseline at: {', '.join(below) if below else 'no level'}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--ktc", default=str(Path(__file__).parents[2].parent / "shared" / "ktc2023"))
    p.add_argument("--baseline-json", default=str(RESULTS / "ktc_real.json"))
    p.add_argument("--images", default="data/ktc_gn_images.npz", help="write the Gauss-Newton images here")
    p.add_argument("--from-images", help="score the images of an earlier run instead of reconstructing")
    p.add_argument("--json", help="write the per-image scores here")
    p.add_argument("--from-json", help="print the tables of an earlier --json instead of running")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.from_json:
        report(json.loads(Path(args.from_json).read_text()))
        return
    from invtools.support.atomic import atomic_path

    if args.from_images:
        with np.load(args.from_images) as f:
            images = dict(f)
    else:
        levels = (7,) if args.quick else KTC_LEVELS
        targets = (1,) if args.quick else TARGETS
        n = 1 if args.quick else args.samples
        sim, sigma0 = simulated_images(n, levels)
        real, real_sigma0 = real_images(Path(args.ktc), targets, levels)
        images = {"levels": np.asarray(levels), "samples": n, "targets": np.asarray(targets), "sim": sim,
                  "sim_sigma0": sigma0, "real": real, "real_sigma0": real_sigma0}
        with atomic_path(args.images) as tmp:
            np.savez(tmp, **images)
    results = score(images, Path(args.ktc))
    if Path(args.baseline_json).is_file() and not args.quick:
        results["baseline"] = baseline_real(Path(args.baseline_json))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(results))
    report(results)


if __name__ == "__main__":
    main()
