"""KTC2023 on the real tank: every method on the 28 real cases (4 training targets x 7 levels),
scored against the organisers' ground truths with the challenge's score, beside the same
method's score on the simulated phantoms of :mod:`benchmarks.studies.ktc` at the same level.

    python -m benchmarks.studies.ktc_real --json benchmarks/results/ktc_real.json \\
        --figure docs/ktc_real_cases.png
    python -m benchmarks.studies.ktc_real --from-json benchmarks/results/ktc_real.json

Cases: ``dataK.mat`` (level 1) and ``levels/levelL/dataK.mat`` against ``ref.mat``, truths
``GroundTruths/trueK.mat`` (256 x 256, 0 water, 1 resistive, 2 conductive). Every file is
reconstructed as ``invtools reconstruct --segment`` does it
(:func:`invtools.workflow.reconstruct.reconstruct`, then
:func:`~invtools.workflow.reconstruct.result.label_images`). Simulated scores: the per-phantom
scores that ``ktc.py --json`` wrote (``--sim-json``, default the two files of
``benchmarks/studies/ktc_levels.sh``); a method or level missing there is marked ``missing``.

Gauss-Newton is recorded from inside the same call: its objective at the water (the prior's
centre), at its start (the linearised log step) and at its end, and its start's score (levels).
The GN rows print where GN scores below the organisers' baseline and what differs there.
Model checks (``ktc_real_checks``): the currents, the water fit, the contact impedance, the
noise from the repeated injections and the size of the measured change, real against simulated.

``--quick`` (a smoke run): target 1 at levels 1 and 7, Gauss-Newton with 2 iterations, 2
simulated samples in the checks and no contact-impedance fit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from benchmarks._timing import print_table
from benchmarks.studies.ktc import LEVELS
from invtools.devices.ktc2023.score import ktc_score, ktc_ssim

TARGETS = (1, 2, 3, 4)
CLASSICAL = ("baseline", "linearized", "gn")
RESULTS = Path(__file__).resolve().parents[1] / "results"
SIM_JSON = (RESULTS / "ktc_levels_classical.json", RESULTS / "ktc_levels_models.json")


def read_truth(folder: Path, target: int) -> np.ndarray:
    """The organisers' label image (256, 256) uint8 of a training target: 0 water, 1 resistive,
    2 conductive (``GroundTruths/true{target}.mat``, variable ``truth``)."""
    import scipy.io

    path = Path(folder) / "GroundTruths" / f"true{target}.mat"
    if not path.is_file():
        raise FileNotFoundError(f"no ground truth {path}")
    data = scipy.io.loadmat(path)
    if "truth" not in data:
        names = sorted(k for k in data if not k.startswith("__"))
        raise ValueError(f"{path}: no variable 'truth' (has {names})")
    truth = np.asarray(data["truth"])
    if truth.shape != (256, 256):
        raise ValueError(f"{path}: truth is {truth.shape}, not 256 x 256")
    if not np.isin(truth, (0, 1, 2)).all():
        raise ValueError(f"{path}: truth has values {sorted({int(v) for v in np.unique(truth)} - {0, 1, 2})} "
                         "outside the classes 0, 1, 2")
    return truth.astype(np.uint8)


def truth_folder(ktc: str | None) -> Path:
    """The KTC2023 folder (``ktc``, else ``$INVTOOLS_KTC2023`` or ``../shared/ktc2023``); exits
    naming it when it holds no ``GroundTruths/``."""
    from invtools.devices.ktc2023.adapter import find_ktc_folder

    folder = Path(ktc) if ktc else find_ktc_folder(Path(__file__).resolve().parents[2])
    if folder is None or not (folder / "GroundTruths").is_dir():
        raise SystemExit(f"KTC2023 data with GroundTruths/ not found ({folder}); pass --ktc FOLDER")
    return folder


def case_path(folder: Path, target: int, level: int) -> Path:
    """The measurement file of ``target`` at ``level`` (level 1: the complete files)."""
    return (Path(folder) if level == 1 else Path(folder) / "levels" / f"level{level}") / f"data{target}.mat"


def class_scores(truth: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The two halves of the challenge score: SSIM of the conductive and of the resistive indicator."""
    return tuple(ktc_ssim((truth == c).astype(float), (labels == c).astype(float)) for c in (2, 1))


@contextlib.contextmanager
def recording_gn(log: list[dict]) -> Iterator[None]:
    """Record every Gauss-Newton solve of the tank's difference path (its objective at the
    prior's centre ``water``, per accepted iterate, and its start x0) into ``log``."""
    from invtools.devices import imaging as adapter  # difference imaging calls gauss_newton there

    original = adapter.gauss_newton

    def recorded(op, y, x0, config=None, x_ref=None):
        x, infos = original(op, y, x0, config, x_ref)
        with torch.no_grad():  # NaN: a value the data leave out
            r_water = op(x0 if x_ref is None else x_ref) - y
            r_end = op(x) - y
        log.append({"water": 0.5 * float(torch.nansum(r_water**2)), "objective": list(infos[0].objective),
                    "residual_water": float(torch.nansum(r_water**2).sqrt()),
                    "residual_end": float(torch.nansum(r_end**2).sqrt()),
                    "values": int(torch.isfinite(y).sum()), "start": torch.exp(x0).numpy()})
        return x, infos

    adapter.gauss_newton = recorded
    try:
        yield
    finally:
        adapter.gauss_newton = original


def run_cases(folder: Path, methods: dict[str, tuple[str, object]], targets, levels, gn_iterations: int
              ) -> tuple[list[dict], dict[tuple[int, int, str], np.ndarray]]:
    """Every method on every (target, level): per-case records and the label images."""
    from invtools.classical import ClassicalConfig
    from invtools.workflow.reconstruct import reconstruct
    from invtools.workflow.reconstruct.result import label_images

    records, labels = [], {}
    for target in targets:
        truth = read_truth(folder, target)
        for level in levels:
            path = case_path(folder, target, level)
            for name, (method, model) in methods.items():
                log: list[dict] = []
                t0 = time.perf_counter()
                with recording_gn(log):
                    rec = reconstruct(path, model=model, method=method,
                                      classical=ClassicalConfig(iterations=gn_iterations))
                lab = label_images(rec)[0]
                seconds = time.perf_counter() - t0
                row = {"target": target, "level": level, "method": name, "score": ktc_score(truth, lab),
                       "class_scores": class_scores(truth, lab), "seconds": seconds,
                       "sigma0": rec.sigma0, "missing": rec.missing,
                       "area": [int((lab == c).sum()) for c in (1, 2)],
                       "truth_area": [int((truth == c).sum()) for c in (1, 2)]}
                if method == "gn":
                    g = log[0]
                    start = dataclasses.replace(rec, x=g.pop("start"))
                    otsu = dataclasses.replace(rec, method="linearized")
                    log_contrast = np.log(np.clip(rec.x, 1e-12, None) / rec.sigma0)
                    row["gn"] = {**g, "start_score": ktc_score(truth, label_images(start)[0]),
                                 "otsu_score": ktc_score(truth, label_images(otsu)[0]),
                                 "log_contrast": [float(log_contrast.min()), float(log_contrast.max())]}
                records.append(row)
                labels[target, level, name] = lab
                print(f"target {target} level {level} {name}: {row['score']:.3f} ({seconds:.1f} s)",
                      file=sys.stderr, flush=True)
    return records, labels


def simulated_scores(paths) -> dict[str, dict[str, tuple[float, int]]]:
    """method -> level row (``L1`` ...) -> (mean score, phantoms) from ``ktc.py --json`` files."""
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for path in paths:
        scores = json.loads(Path(path).read_text())["scores"]
        for method, rows in scores.items():
            for row, values in rows.items():
                v = np.asarray(values, dtype=float)
                out.setdefault(method, {})[row] = (float(np.nanmean(v)), int(np.isfinite(v).sum()))
    return out


def real_means(records: list[dict]) -> dict[str, dict[int, float]]:
    """method -> level -> mean real score over the targets run."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in records:
        out.setdefault(r["method"], {}).setdefault(r["level"], []).append(r["score"])
    return {m: {v: float(np.mean(s)) for v, s in rows.items()} for m, rows in out.items()}


def report(results: dict, sim: dict) -> None:
    """The real-against-simulated table, the gaps, the per-target table and the GN diagnosis."""
    records = results["cases"]
    real = real_means(records)
    levels = sorted({r["level"] for r in records})
    targets = sorted({r["target"] for r in records})
    methods = list(real)
    print(f"KTC2023 real tank: {len(targets)} target(s) x {len(levels)} level(s); cell: real (mean over "
          f"targets {', '.join(map(str, targets))}) / simulated (mean over the phantoms of "
          f"{', '.join(Path(p).name for p in results['sim_json'])}); challenge score, 1 = perfect")
    rows, gaps = [], []
    for m in methods:
        cells, gap, sums = [], [], [0.0, 0.0]
        for v in levels:
            s = sim.get(m, {}).get(f"L{v}")
            if s is None:
                cells.append(f"{real[m][v]:.3f} / missing")
                gap.append("missing")
                continue
            cells.append(f"{real[m][v]:.3f} / {s[0]:.3f}")
            gap.append(f"{s[0] - real[m][v]:+.3f}")
            sums = [sums[0] + real[m][v], sums[1] + s[0]]
        complete = all(g != "missing" for g in gap)
        total = f"{sum(real[m].values()):.2f} / " + (f"{sums[1]:.2f}" if complete else "missing")
        rows.append([m, *cells, total])
        gaps.append([m, *gap, f"{sums[1] - sums[0]:+.2f}" if complete else "missing"])
    print_table(["method", *[f"L{v} real / sim" for v in levels], "total real / sim"], rows)
    n = {m: min(s[1] for r, s in sim[m].items() if r.startswith("L")) for m in sim}
    print(f"\nsim - real per level (simulated phantoms per cell: "
          f"{', '.join(f'{m} {n[m]}' for m in methods if m in n)})")
    print_table(["method", *[f"L{v}" for v in levels], "total"], gaps)
    print("\nreal score per target (mean over the levels run); conductive / resistive halves of the score")
    per_target = []
    for m in methods:
        cells = []
        for t in targets:
            rs = [r for r in records if r["method"] == m and r["target"] == t]
            halves = np.mean([r["class_scores"] for r in rs], axis=0)
            cells.append(f"{np.mean([r['score'] for r in rs]):.3f} ({halves[0]:.2f} / {halves[1]:.2f})")
        per_target.append([m, *cells, f"{np.mean([r['seconds'] for r in records if r['method'] == m]):.1f}"])
    print_table(["method", *[f"target {t}" for t in targets], "s / file"], per_target)
    truth_classes = {t: next(r["truth_area"] for r in records if r["target"] == t) for t in targets}
    print("truth pixels (resistive, conductive): "
          + "; ".join(f"target {t}: {a[0]}, {a[1]}" for t, a in truth_classes.items()))
    gn_report(records)


def gn_report(records: list[dict]) -> None:
    """GN against the baseline per case, and GN's objective: water, start, end."""
    by = {(r["target"], r["level"], r["method"]): r for r in records}
    gn = [r for r in records if r["method"] == "gn"]
    if not gn:
        return
    rising = [r for r in gn if r["gn"]["objective"][-1] > r["gn"]["objective"][0]]
    above_water = [r for r in gn if r["gn"]["objective"][-1] > r["gn"]["water"]]
    start_above = [r for r in gn if r["gn"]["objective"][0] > r["gn"]["water"]]
    print(f"\nGauss-Newton objective over {len(gn)} cases: end above its start in {len(rising)}; "
          f"start above the water (prior centre) in {len(start_above)}; end above the water in "
          f"{len(above_water)}")
    rows = []
    for r in gn:
        b = by.get((r["target"], r["level"], "baseline"))
        if b is None or r["score"] >= b["score"]:
            continue
        g = r["gn"]
        rows.append([r["target"], f"L{r['level']}", f"{b['score']:.3f}", f"{r['score']:.3f}",
                     f"{g['start_score']:.3f}", f"{g['otsu_score']:.3f}",
                     f"{g['water']:.3g} / {g['objective'][0]:.3g} / {g['objective'][-1]:.3g}",
                     len(g["objective"]) - 1, f"{g['log_contrast'][0]:+.1f} / {g['log_contrast'][1]:+.1f}",
                     f"{r['area'][0]}, {r['area'][1]}", f"{b['area'][0]}, {b['area'][1]}",
                     f"{r['truth_area'][0]}, {r['truth_area'][1]}"])
    n_base = sum((r["target"], r["level"], "baseline") in by for r in gn)
    if not n_base:
        return
    print(f"GN below the organisers' baseline in {len(rows)} of {n_base} cases:")
    if rows:
        print_table(["target", "level", "baseline", "GN", "GN start (levels)", "GN end (Otsu)",
                     "objective water / start / end", "GN steps", "log(sigma/sigma0) min / max",
                     "GN pixels res, cond", "baseline pixels res, cond", "truth pixels res, cond"], rows)


def figure(labels: dict, records: list[dict], folder: Path, path: Path) -> None:
    """Rows: target x method; columns: the truth and each level; each panel's score in its corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from invtools.analysis.plotting import draw_tank, label_key
    from invtools.analysis.segmentation import LABEL_COLOURS
    from invtools.support.atomic import atomic_path

    targets = sorted({k[0] for k in labels})
    levels = sorted({k[1] for k in labels})
    methods = list(dict.fromkeys(k[2] for k in labels))
    score = {(r["target"], r["level"], r["method"]): r["score"] for r in records}
    kept = {r["level"]: 2356 - r["missing"] for r in records}
    rows = [(t, m) for t in targets for m in methods]
    fig, axes = plt.subplots(len(rows), len(levels) + 1, squeeze=False, layout="constrained",
                             figsize=(1.35 * (len(levels) + 1) + 0.6, 1.35 * len(rows) + 0.9))
    cmap = ListedColormap(LABEL_COLOURS)
    for i, (t, m) in enumerate(rows):
        for j, image in enumerate([read_truth(folder, t) if m == methods[0] else None]
                                  + [labels[t, v, m] for v in levels]):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            if image is None:
                ax.set_frame_on(False)  # keeps the row's label
                continue
            ax.imshow(image, cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
            draw_tank(ax, image.shape[-1])
            if j:
                ax.text(0.02, 0.02, f"{score[t, levels[j - 1], m]:.2f}", transform=ax.transAxes,
                        fontsize=7, va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "pad": 1,
                                                       "edgecolor": "none"})
            if i == 0:
                ax.set_title("truth" if j == 0 else f"level {levels[j - 1]}\n{kept[levels[j - 1]]} values",
                             fontsize=8)
        axes[i, 0].set_ylabel(f"target {t}\n{m}", fontsize=8)
    label_key(fig)
    fig.suptitle("KTC2023 real tank: the organisers' truth (left) and each method's\n"
                 "segmentation per level; challenge score in each panel's corner", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=72)
    plt.close(fig)


def show(results: dict, sim: dict) -> None:
    """Every table of ``results``: the scores, the GN diagnosis and the model checks."""
    from benchmarks.studies.ktc_real_checks import gn_summary, print_checks

    report(results, sim)
    checks = results.get("checks")
    gn_summary(results["cases"], checks["noise_ref"][1] if checks else None, results.get("gn_sim"))
    if checks:
        print_checks(checks)


def finish(results: dict, args: argparse.Namespace) -> None:
    """Add the simulated GN check (``--gn-sim``) and write ``--json`` (atomically)."""
    if args.gn_sim:
        from benchmarks.studies.ktc_real_checks import gn_on_simulated

        results["gn_sim"] = gn_on_simulated(args.gn_sim, (7,) if args.quick else (1, 4, 7))
    if args.json:
        from invtools.support.atomic import write_bytes_atomic

        write_bytes_atomic(args.json, json.dumps(results).encode())


def compare(records: list[dict], against: str | None) -> None:
    """``--against``: this run's scores minus those of an earlier ``--json``."""
    if against:
        from benchmarks.studies.ktc_real_checks import compare_runs

        compare_runs(records, json.loads(Path(against).read_text())["cases"], against)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ktc", help="the KTC2023 folder (default: $INVTOOLS_KTC2023 or ../shared/ktc2023)")
    p.add_argument("--methods", nargs="*", default=list(CLASSICAL), choices=CLASSICAL)
    p.add_argument("--models", nargs="*", default=["shipped=invtools/models/ktc2023.pt"],
                   metavar="NAME=CHECKPOINT")
    p.add_argument("--gn-iterations", type=int, default=10, help="Gauss-Newton's most iterations")
    p.add_argument("--sim-json", nargs="*", default=[str(s) for s in SIM_JSON],
                   help="ktc.py --json files with the simulated per-phantom scores")
    p.add_argument("--json", help="write the per-case records here")
    p.add_argument("--from-json", help="print the tables of an earlier --json instead of running")
    p.add_argument("--figure", help="PNG: truth and every method's labels for every case")
    p.add_argument("--no-checks", action="store_true", help="leave out the model checks")
    p.add_argument("--gn-sim", type=int, default=0, metavar="N",
                   help="also Gauss-Newton's start and end on N simulated phantoms at levels 1, 4, 7 "
                        "(with --from-json: added to that file's results, written to --json)")
    p.add_argument("--currents", choices=["file", "nominal"], default="file",
                   help="nominal: take every injection to have driven 1.47 (no per-injection rescaling)")
    p.add_argument("--against", help="an earlier --json: print this run's score minus that one's per level")
    p.add_argument("--quick", action="store_true",
                   help="target 1 at levels 1 and 7, GN with 2 iterations, small checks")
    args = p.parse_args(argv)
    sim = simulated_scores(args.sim_json)
    if args.from_json:
        results = {**json.loads(Path(args.from_json).read_text()), "sim_json": args.sim_json}
        if args.gn_sim:
            finish(results, args)
        show(results, sim)
        compare(results["cases"], args.against)
        return
    folder = truth_folder(args.ktc)
    targets, levels = ((1,), (1, 7)) if args.quick else (TARGETS, LEVELS)
    if args.quick:
        args.gn_iterations = min(args.gn_iterations, 2)
    from invtools.training.trained_model import load_model

    methods = {m: (m, None) for m in args.methods}
    methods.update({name: ("model", load_model(path)) for name, path in
                    (m.split("=", 1) for m in args.models)})
    from benchmarks.studies.ktc_real_checks import one_current_for_all

    with one_current_for_all() if args.currents == "nominal" else contextlib.nullcontext():
        records, labels = run_cases(folder, methods, targets, levels, args.gn_iterations)
    results = {"cases": records, "sim_json": args.sim_json, "gn_iterations": args.gn_iterations,
               "currents": args.currents}
    if not args.no_checks:
        from benchmarks.studies.ktc_real_checks import model_checks

        results["checks"] = model_checks(folder, records, quick=args.quick)
    finish(results, args)
    show(results, sim)
    compare(records, args.against)
    if args.figure:
        figure(labels, records, folder, Path(args.figure))
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
