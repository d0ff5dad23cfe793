"""Reproduction study of Zhou et al. (2024), "Deep unrolling networks with recurrent momentum
acceleration for nonlinear inverse problems", with invtools.

    python -m benchmarks.studies.reproduce_rma --quick       # CI-sized smoke run (~10 s)
    python -m benchmarks.studies.reproduce_rma               # the documented study
    python -m benchmarks.studies.reproduce_rma --parts blur --seeds 0 1 2 --n-train-blur 10000 \\
        --epochs-blur 18

Parts:
- ``blur``: 1-D quadratic-window deconvolution, a in {0, 0.5, 1, 2, 4}; GN, LPGD (T=20),
  LPGD-MA (fixed momentum), LPGD-RMA, LPD (T=10), LPD-RMA; test MSE and PSNR, mean +- std
  over seeds (each seed: new W1/W2, data and initialisation).
- ``eit``: CEM EIT with 2 and 4 discs, n_train in {50, 200, 400}; GN, LPGD, LPGD-RMA, LPD,
  LPD-RMA; relative error, PSNR, mesh SSIM, dynamic range (conductivity, physical units).
- ``limited``: the same with 16 electrodes on the upper half circle (eit-limited).
``--nets`` also accepts ``LPGD-RMA-res`` and ``LPD-RMA-res``: RMA as a learned correction
``g_k + FC(h_k)`` that starts as the plain gradient (not in the paper), ``LPD-RMA-df``:
LPD whose RMA reads the data-fit gradient history, beside ``J^T h_0``
(``direction_source="data_fit"``, not in the paper), and ``LPD-df``, its control without
RMA (the data-fit gradient itself beside ``J^T h_0``).
EIT networks work on log-conductivity and start from a one-step linearised reconstruction
(smoothness prior, discrepancy principle), as the paper's start from Gauss-Newton.
Every model trains with the same seed, epochs and schedule; the best-validation checkpoint is
scored on the test set. Prints Markdown tables, writes JSON and Markdown next to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from invtools.analysis.metrics import summarize
from invtools.classical import ClassicalConfig, gauss_newton
from invtools.data.recipes import Problem, Recipe, load_recipe
from invtools.nets import build_net_from_config
from invtools.operators.geometry import input_adjacency
from invtools.operators.parametrization import from_net, to_net
from invtools.support.atomic import atomic_path
from invtools.support.provenance import provenance
from invtools.training.checkpoint import load_checkpoint
from invtools.training.trainer import TrainConfig, Trainer

NETS = {"LPGD": ("lpgd", "none"), "LPGD-MA": ("lpgd", "momentum"), "LPGD-RMA": ("lpgd", "rma"),
        "LPD": ("lpd", "none"), "LPD-RMA": ("lpd", "rma")}
EIT_NETS = ("LPGD", "LPGD-RMA", "LPD", "LPD-RMA")
# not in the paper: RMA as a learned correction of the gradient, g_k + FC(h_k), read-out zero at
# start; LPD's RMA over the data-fit gradient history, beside J^T h_0
EXTRA_NETS = {"LPGD-RMA-res": ("lpgd", "rma"), "LPD-RMA-res": ("lpd", "rma"),
              "LPD-df": ("lpd", "none"), "LPD-RMA-df": ("lpd", "rma")}
EXTRA_KWARGS = {"LPGD-RMA-res": {"direction_kwargs": {"residual": True}},
                "LPD-RMA-res": {"direction_kwargs": {"residual": True}},
                "LPD-df": {"direction_source": "data_fit"},
                "LPD-RMA-df": {"direction_source": "data_fit"}}


def make_data(recipe: Recipe, n_train: int, n_val: int, n_test: int, seed: int):
    """Net operator, train/val/test TensorDatasets (network variable) and the problem.

    Samples are numbered test, validation, training: the test and validation sets of a seed do not
    depend on ``n_train``, and a larger training set contains the smaller ones.
    """
    problem = Problem(recipe)
    n = n_test + n_val + n_train
    s = problem.samples(np.arange(n), seed)
    x, x0 = (torch.as_tensor(to_net(s[k], recipe.parametrization), dtype=torch.float32) for k in ("x", "x0"))
    y = torch.as_tensor(s["y"], dtype=torch.float32)
    cut = [0, n_test, n_test + n_val, n]
    test, val, train = (TensorDataset(x[a:b], y[a:b], x0[a:b])
                        for a, b in zip(cut[:-1], cut[1:], strict=True))
    return problem, (train, val, test)


def build(name: str, op, steps: dict[str, int], adjacency):
    arch, direction = {**NETS, **EXTRA_NETS}[name]
    config = {"arch": arch, "steps": steps[arch], "direction": direction, **EXTRA_KWARGS.get(name, {})}
    return build_net_from_config(config, op.in_shape, op.out_shape, adjacency)


def score(problem: Problem, x_hat: torch.Tensor, x: torch.Tensor, adjacency) -> dict[str, float]:
    p = problem.parametrization
    return summarize(from_net(x_hat.double(), p), from_net(x.double(), p), adjacency)


def run_case(recipe: Recipe, nets: list[str], n_train: int, n_val: int, n_test: int, seed: int,
             epochs: int, batch: int, lr: float, steps: dict[str, int], gn_samples: int) -> dict:
    t0 = time.perf_counter()
    problem, (train, val, test) = make_data(recipe, n_train, n_val, n_test, seed)
    op = problem.net_op
    adjacency = input_adjacency(op)
    x, y, x0 = test.tensors
    out: dict[str, dict] = {"x0": score(problem, x0, x, adjacency)}
    k = min(gn_samples, len(x))
    cfg = ClassicalConfig(noise_level=float(recipe.noise["relative"]))
    t = time.perf_counter()
    gn, _ = gauss_newton(op, y[:k].double(), x0[:k].double(), cfg)
    out["GN"] = {**score(problem, gn, x[:k], adjacency), "n_test": k,
                 "seconds_per_sample": (time.perf_counter() - t) / k}
    for name in nets:
        torch.manual_seed(seed)
        net = build(name, op, steps, adjacency)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(net, op, train, val, TrainConfig(epochs=epochs, batch_size=batch, lr=lr,
                                                               seed=seed),
                              out_dir=tmp, adjacency=adjacency, progress=False)
            t = time.perf_counter()
            history = trainer.fit()
            best = load_checkpoint(Path(tmp) / "best.pt")  # best validation epoch
            trainer.net.load_state_dict(best["model"])
        x_hat, _, _ = trainer.predict(test)
        out[name] = {**score(problem, x_hat, x, adjacency), "train_seconds": time.perf_counter() - t,
                     "best_val_mse": min(h["val_mse"] for h in history), "n_test": len(x)}
    out["_seconds"] = time.perf_counter() - t0
    return out


# --- the study ----------------------------------------------------------------------------------

def blur_recipe(a: float, seed: int) -> Recipe:
    d = load_recipe("blur1d-rma").to_dict()
    d["operator"] = {**d["operator"], "a": a, "seed": seed}
    return Recipe.from_dict(d)


def eit_recipe(name: str, h: float | None, x0: str) -> Recipe:
    d = load_recipe(name).to_dict()
    if h is not None:
        d["operator"] = {**d["operator"], "h": h}
    d["x0"] = {**d["x0"], "method": x0, "value": 1.0}
    return Recipe.from_dict(d)


def mean_std(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.4g} ± {v.std(ddof=1):.2g}" if v.size > 1 else f"{v[0]:.4g}"


def blur_tables(results: dict, nets: list[str]) -> str:
    a_values = sorted(results, key=float)
    lines = []
    for metric in ("mse", "psnr"):
        lines += [f"\n1-D deconvolution, test {metric.upper()} (mean ± std over seeds)\n",
                  "| method | " + " | ".join(f"a = {a}" for a in a_values) + " |",
                  "|---|" + "---|" * len(a_values)]
        for name in ["GN", *nets]:
            cells = [mean_std([r[name][metric] for r in results[a]]) for a in a_values]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    pairs = [(b, r) for b, r in (("LPGD", "LPGD-RMA"), ("LPD", "LPD-RMA"), ("LPGD", "LPGD-RMA-res"),
                                 ("LPD", "LPD-RMA-res"), ("LPD", "LPD-RMA-df"),
                                 ("LPD-df", "LPD-RMA-df"))
             if b in nets and r in nets]
    lines += ["\nRMA gain: relative test-MSE reduction over the same net without RMA, mean over seeds\n",
              "| a | " + " | ".join(f"{b} -> {r}" for b, r in pairs) + " |", "|---|" + "---|" * len(pairs)]
    for a in a_values:
        cells = [f"{100 * np.mean([1 - run[r]['mse'] / run[b]['mse'] for run in results[a]]):+.1f}%"
                 for b, r in pairs]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eit_tables(title: str, results: dict, nets: list[str]) -> str:
    sizes = sorted(results, key=int)
    lines = [f"\n{title}: relative error by n_train\n", "| method | " +
             " | ".join(f"n_train = {n}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name in ["x0", "GN", *nets]:
        lines.append(f"| {name} | " + " | ".join(mean_std([r[name]["relative_error"] for r in results[n]])
                                                 for n in sizes) + " |")
    n = sizes[-1]
    lines += [f"\n{title}, n_train = {n}: all metrics (conductivity)\n",
              "| method | relative error | PSNR | mesh SSIM | dynamic range |", "|---|---|---|---|---|"]
    for name in ["x0", "GN", *nets]:
        rs = results[n]
        lines.append(f"| {name} | " + " | ".join(mean_std([r[name][m] for r in rs]) for m in
                                                 ("relative_error", "psnr", "ssim", "dynamic_range")) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="CI-sized: tiny data, 1 epoch, coarse mesh (options given explicitly win)")
    p.add_argument("--parts", nargs="+", default=["blur", "eit", "limited"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--a", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=[*NETS, *EXTRA_NETS])
    p.add_argument("--n-train-blur", type=int, default=1000)
    p.add_argument("--epochs-blur", type=int, default=8)
    p.add_argument("--eit-n-train", type=int, nargs="+", default=[50, 200, 400])
    p.add_argument("--eit-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs-eit", type=int, default=6)
    p.add_argument("--eit-h", type=float, default=None, help="mesh size (default: the preset's 0.1)")
    p.add_argument("--eit-steps", type=int, nargs=2, default=[10, 5], metavar=("LPGD", "LPD"))
    p.add_argument("--out", default=str(Path(__file__).parents[1] / "results" / "reproduce_rma.json"))
    args = p.parse_args(argv)
    if args.quick:  # the quick sizes as defaults, so that options given explicitly still win
        p.set_defaults(seeds=[0, 1], a=[0.0, 2.0], n_train_blur=64, epochs_blur=1, eit_n_train=[8, 16],
                       epochs_eit=1, eit_h=0.3, eit_steps=[2, 2])
        args = p.parse_args(argv)
        if args.out == p.get_default("out"):
            args.out = str(Path(args.out).with_name("reproduce_rma_quick.json"))
    threads = torch.get_num_threads()
    if args.quick:
        torch.set_num_threads(1)  # tiny problems: extra threads only add synchronisation
    try:
        return run_study(args)
    finally:
        torch.set_num_threads(threads)


def run_study(args: argparse.Namespace) -> dict:
    """Run the parts selected in ``args``; print and write the tables; return the report."""
    t0 = time.perf_counter()
    report: dict = {"args": vars(args), "provenance": provenance(args.seeds[0], command="reproduce_rma")}
    text = []
    if "blur" in args.parts:
        blur_nets = list(args.nets)
        steps = {"lpgd": 4, "lpd": 2} if args.quick else {"lpgd": 20, "lpd": 10}
        results: dict[str, list] = {}
        n_val, n_test, gn_samples = (32, 32, 8) if args.quick else (200, 500, 500)
        for a in args.a:
            results[str(a)] = [run_case(blur_recipe(a, seed), blur_nets, args.n_train_blur, n_val, n_test,
                                        seed, args.epochs_blur, 32, 2e-3, steps, gn_samples)
                               for seed in args.seeds]
            print(f"blur a={a} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        report["blur"] = results
        text.append(blur_tables(results, blur_nets))
    eit_nets = [n for n in args.nets if n in EIT_NETS or n in EXTRA_NETS]
    steps = {"lpgd": args.eit_steps[0], "lpd": args.eit_steps[1]}
    for part, presets in (("eit", ["eit-discs2", "eit-discs4"]), ("limited", ["eit-limited"])):
        if part not in args.parts:
            continue
        for preset in presets:
            recipe = eit_recipe(preset, args.eit_h, "constant" if args.quick else "linearized")
            n_val, n_test, gn_samples = (8, 8, 4) if args.quick else (50, 50, 50)
            results = {str(n): [run_case(recipe, eit_nets, n, n_val, n_test, seed, args.epochs_eit, 8, 1e-3,
                                         steps, gn_samples)
                                for seed in args.eit_seeds] for n in args.eit_n_train}
            report[preset] = results
            text.append(eit_tables(preset, results, eit_nets))
            print(f"{preset} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    report["wall_seconds"] = time.perf_counter() - t0
    text.append(f"\nwall time: {report['wall_seconds']:.0f} s on {torch.get_num_threads()} threads")
    markdown = "\n".join(text)
    print(markdown)
    out = Path(args.out)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=float))
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown + "\n")
    return report


if __name__ == "__main__":
    main()
