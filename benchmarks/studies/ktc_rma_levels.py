"""The RMA claim per KTC2023 level: LPGD vs LPGD-RMA vs the post-processing U-Net, 3 seeds each,
the same budget (training samples, epochs, batch size), scored at every level on the same held-out
phantoms as benchmarks/studies/ktc.py, with paired differences.

    invtools generate ktc2023 --out data/ktc_val100.h5 -n 100 --seed 3   # the first 100 of ktc_val.h5
    python -m benchmarks.studies.ktc_rma_levels --train data/ktc_train.h5 --val data/ktc_val100.h5 \\
        --samples 100 --json benchmarks/results/ktc_rma_levels.json
    python -m benchmarks.studies.ktc_rma_levels --from-json benchmarks/results/ktc_rma_levels.json

The RMA paper (Zhou et al. 2024) claims its momentum module helps most where EIT is strongly
ill-posed, i.e. with few boundary data: levels 5-7 here. Every net trains on the masked data
set (levels and broken electrodes mixed, as the preset draws them), from the masked x0; LPGD and
LPGD-RMA see the masked CEM data-fit J^T M (A(x) - y) in each of their 5 steps, the U-Net sees
the mask through its embedding. Paired differences: per phantom, the mean score over the 3
seeds of each method, then the t interval over phantoms (the seed-to-seed spread of the
per-level means is printed beside).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks._timing import print_table
from benchmarks.studies.ktc import LEVELS, complete_problem, interval, masks_of, run_methods, truth_labels

NETS = {
    "LPGD": {"arch": "lpgd", "steps": 5, "direction": "none", "hidden": 32},
    "LPGD-RMA": {"arch": "lpgd", "steps": 5, "direction": "rma", "hidden": 32},
    "U-Net": {"arch": "unet", "levels": 2, "hidden": 32, "mask_input": True},
}
SEEDS = (0, 1, 2)


def toml_value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else json.dumps(v)


def train_all(args, root: Path) -> dict[str, Path]:
    """Train every net and seed (skipping finished runs); name -> best checkpoint."""
    out = {}
    for name, net in NETS.items():
        for seed in SEEDS:
            run = root / f"{name}-seed{seed}"
            out[f"{name} s{seed}"] = run / "best.pt"
            if (run / "best.pt").exists() and (run / "history.json").exists() and \
                    len(json.loads((run / "history.json").read_text())) == args.epochs:
                continue
            cfg = root / f"{name}-seed{seed}.toml"
            cfg.write_text("\n".join([
                f'out = "{run.resolve()}"', "[data]", f'train = "{Path(args.train).resolve()}"',
                f'val = "{Path(args.val).resolve()}"', f"train_samples = {args.train_samples}", "[net]",
                *[f"{k} = {toml_value(v)}" for k, v in net.items()], "[train]", f"epochs = {args.epochs}",
                f"batch_size = {args.batch_size}", "lr = 1e-3", f"seed = {seed}", ""]))
            print(f"training {name} seed {seed}", file=sys.stderr, flush=True)
            cmd = [sys.executable, "-m", "invtools.workflow.cli", "train", str(cfg)]
            subprocess.run(cmd + ["--quiet"] if args.quiet else cmd, check=True)
    return out


def report(results: dict) -> None:
    scores = results["scores"]
    rows = [f"L{v}" for v in LEVELS] + ["broken"]

    def mean_over_seeds(name: str, row: str) -> np.ndarray:
        """Per phantom (NaN where a model refused the phantom's mask: too few values kept)."""
        return np.mean([scores[f"{name} s{s}"][row] for s in SEEDS], axis=0)

    def scored_by_all(row: str) -> np.ndarray:
        """The phantoms of ``row`` every net and seed scored (the same set for every method)."""
        return np.all([np.isfinite(scores[k][row]) for k in scores], axis=0)

    table = []
    for name in NETS:
        cells = []
        for row in rows:
            per_seed = [np.mean(np.asarray(scores[f"{name} s{s}"][row])[scored_by_all(row)]) for s in SEEDS]
            cells.append(f"{np.mean(per_seed):.3f} ± {np.std(per_seed, ddof=1):.3f}")
        table.append([name, *cells])
    n = len(scores[f"LPGD s{SEEDS[0]}"]["L1"])
    print(f"KTC2023 simulated tank, {n} phantoms per row, {len(SEEDS)} seeds: mean score (± std over "
          "the seeds' means)")
    print_table(["net", *rows], table)
    print("phantoms per row scored by every net (the others' masks keep too few values for one): "
          + ", ".join(f"{row} {int(scored_by_all(row).sum())}" for row in rows))
    print()
    diffs = []
    for a, b in (("LPGD-RMA", "LPGD"), ("LPGD-RMA", "U-Net"), ("U-Net", "LPGD")):
        for row in rows:
            both = scored_by_all(row)
            mean, lo, hi = interval((mean_over_seeds(a, row) - mean_over_seeds(b, row))[both])
            verdict = f"{a} wins" if lo > 0 else (f"{b} wins" if hi < 0 else "no difference shown")
            diffs.append([f"{a} - {b}", row, f"{mean:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]", verdict])
    print_table(["paired difference", "row", "mean", "95% interval", "verdict"], diffs)


def main() -> None:
    global SEEDS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", default="data/ktc_train.h5")
    p.add_argument("--val", default="data/ktc_val100.h5")
    p.add_argument("--runs", default="runs/ktc-rma-levels")
    p.add_argument("--train-samples", type=int, default=800)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--json", help="write the per-phantom scores here")
    p.add_argument("--from-json", help="only report these earlier results")
    p.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds per net (0, 1, ...)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        SEEDS = tuple(results.get("budget", {}).get("seeds", SEEDS))
        report(results)
        return
    SEEDS = tuple(range(args.seeds))
    root = Path(args.runs)
    root.mkdir(parents=True, exist_ok=True)
    checkpoints = train_all(args, root)
    problem = complete_problem()
    sample = problem.samples(np.arange(args.samples), 2)
    truth = [truth_labels(problem, 2, i) for i in range(args.samples)]
    args.methods, args.gn_samples, args.device = [], 0, "cpu"
    args.models = [(name, str(path)) for name, path in checkpoints.items()]
    results = run_methods(args, problem, sample, masks_of(problem, args.samples), truth)
    results["budget"] = {"train_samples": args.train_samples, "epochs": args.epochs,
                         "batch_size": args.batch_size, "seeds": list(SEEDS)}
    if args.json:
        Path(args.json).write_text(json.dumps(results))
    report(results)


if __name__ == "__main__":
    main()
