"""10k training signals: LPGD vs LPGD-RMA and LPD vs LPD-RMA on the 1-D quadratic-window blur.

    python -m benchmarks.studies.rma_blur1d [--a 2] [--n-train 10000] [--epochs 15] [--nets lpgd lpd]
                                    [--directions none rma rma-res rma-grad] [--rma-hidden 128]
                                    [--seed 0] [--init-seed I] [--noise 0.01]
                                    [--weight-decay 0] [--lpd-source dual|data_fit]
                                    [--rma-dropout 0] [--gn] [--also-test-on-n-train N]
                                    [--out benchmarks/results/rma_blur1d.json]

Data: reflected random walks in [0, 1] (length 53; ``--signals tv``: the RMA paper's TV-prior
signals in [-1, 1]), QuadraticWindowBlur(a, seed 0), 1%
relative Gaussian noise, x0 = 0; 10k/1k/1k train/validation/test split from one seed. Each
model trains with the same seed (``--init-seed`` varies only the initialisation and batch
order), epochs and learning-rate schedule; the best-validation
checkpoint is evaluated on the test set.  Prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from forward_models.blur import QuadraticWindowBlur
from invtools.analysis.metrics import summarize
from invtools.classical import ClassicalConfig, gauss_newton
from invtools.data.phantoms import random_walk_signals, tv_prior_signals
from invtools.nets import LPD, LPGD
from invtools.support.atomic import atomic_path
from invtools.support.provenance import provenance
from invtools.training.trainer import TrainConfig, Trainer

SIGNALS = {"walk": random_walk_signals, "tv": tv_prior_signals}


def make_split(a: float, n_train: int, n_val: int, n_test: int, noise: float, seed: int,
               signals: str = "walk"):
    op = QuadraticWindowBlur(a=a, seed=seed)
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(SIGNALS[signals](n_train + n_val + n_test, op.n, rng),
                        dtype=torch.float32)
    with torch.no_grad():
        y = op(x)
    y = y + noise * y.pow(2).mean().sqrt() * torch.as_tensor(
        rng.standard_normal(tuple(y.shape)), dtype=torch.float32)
    x0 = torch.zeros_like(x)
    cut = np.cumsum([n_train, n_val])
    parts = [TensorDataset(x[s], y[s], x0[s]) for s in
             (slice(0, cut[0]), slice(cut[0], cut[1]), slice(cut[1], None))]
    return op, parts


def build(name: str, direction: str, op, rma_hidden: int = 128, lpd_source: str = "dual",
          rma_dropout: float = 0.0):
    """``direction`` is a direction module, ``rma-res`` (RMA as a correction g_k + FC(h_k)) or
    ``rma-grad`` (RMA beside the gradient: d_k = [g_k, FC(h_k)])."""
    rma = {"hidden": rma_hidden, "dropout": rma_dropout}
    kwargs = {"direction": direction, "direction_kwargs": rma if direction == "rma" else None}
    if direction == "rma-res":
        kwargs = {"direction": "rma", "direction_kwargs": {**rma, "residual": True}}
    if direction == "rma-grad":
        kwargs = {"direction": "rma", "direction_kwargs": {**rma, "with_gradient": True}}
    if name == "lpgd":
        return LPGD(op.in_shape, steps=20, **kwargs)
    return LPD(op.in_shape, op.out_shape, steps=10, direction_source=lpd_source, **kwargs)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", type=float, default=2.0)
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-val", type=int, default=1_000)
    p.add_argument("--n-test", type=int, default=1_000)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--signals", default="walk", choices=list(SIGNALS),
                   help="walk: random walks reflected into [0, 1]; tv: the RMA paper's TV-prior "
                        "signals in [-1, 1]")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0, help="data, operator and training seed")
    p.add_argument("--init-seed", type=int, default=None,
                   help="seed of the network initialisation and batch order (default: --seed)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    p.add_argument("--nets", nargs="*", default=["lpgd", "lpd"], choices=["lpgd", "lpd"],
                   help="nets to train (none: with --gn, score Gauss-Newton only)")
    p.add_argument("--directions", nargs="+", default=["none", "rma"],
                   choices=["none", "momentum", "rma", "rma-res", "rma-grad", "conv_rma"])
    p.add_argument("--rma-hidden", type=int, default=128, help="LSTM width of the RMA module")
    p.add_argument("--rma-dropout", type=float, default=0.0,
                   help="dropout on the RMA LSTM's inputs and read-out (training only)")
    p.add_argument("--lpd-source", default="dual", choices=["dual", "data_fit"],
                   help="what LPD's direction module reads: J^T h_0 (dual, the paper) or the "
                        "data-fit gradient, placed beside J^T h_0 (data_fit)")
    p.add_argument("--also-test-on-n-train", type=int, default=None, metavar="N",
                   help="also score on the test set of the split with N training signals (the "
                        "test set moves with --n-train; this compares runs of different sizes)")
    p.add_argument("--gn", action="store_true",
                   help="also score Gauss-Newton (smoothness prior, discrepancy principle) on the "
                        "test set")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/rma_blur1d.json")
    args = p.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        run(args)
    finally:  # callers in the same process (tests) keep their thread count
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> None:
    """Train and score the models selected in ``args``; print a table and write JSON."""
    op, (train, val, test) = make_split(args.a, args.n_train, args.n_val, args.n_test,
                                        args.noise, args.seed, args.signals)
    other_test = None
    if args.also_test_on_n_train is not None:
        other_test = make_split(args.a, args.also_test_on_n_train, args.n_val, args.n_test,
                                args.noise, args.seed, args.signals)[1][2]
    results = []
    if args.gn:
        x, y, x0 = test.tensors
        t0 = time.perf_counter()
        x_gn, _ = gauss_newton(op, y.double(), x0.double(), ClassicalConfig(noise_level=args.noise))
        m = summarize(x_gn.float(), x)
        results.append({"net": "gn", "direction": "-", "a": args.a, "test_mse": m["mse"],
                        "test_psnr": m["psnr"], "train_minutes": 0.0,
                        "solve_minutes": (time.perf_counter() - t0) / 60,
                        "signals": args.signals, "noise": args.noise})
        print(json.dumps(results[-1]), flush=True)
    for name in args.nets:
        for direction in args.directions:
            init_seed = args.seed if args.init_seed is None else args.init_seed
            torch.manual_seed(init_seed)
            net = build(name, direction, op, args.rma_hidden, args.lpd_source, args.rma_dropout)
            cfg = TrainConfig(epochs=args.epochs, batch_size=32, lr=args.lr, seed=init_seed,
                              weight_decay=args.weight_decay)
            out_dir = Path(args.out).parent / Path(args.out).stem / f"{name}-{direction}"
            trainer = Trainer(net, op, train, val, cfg, out_dir=out_dir, progress=False)
            t0 = time.perf_counter()
            trainer.fit()
            minutes = (time.perf_counter() - t0) / 60
            trainer.load_state(out_dir / "best.pt")
            m = trainer.evaluate(test)
            results.append({"net": name, "direction": direction, "a": args.a,
                            "test_mse": m["mse"], "test_psnr": m["psnr"],
                            "test_mse_x0": m["mse_x0"], "train_minutes": minutes,
                            "signals": args.signals, "noise": args.noise,
                            "init_seed": init_seed, "weight_decay": args.weight_decay,
                            "rma_hidden": args.rma_hidden, "lpd_source": args.lpd_source,
                            "rma_dropout": args.rma_dropout,
                            "best_epoch": int(np.argmin([h["val_mse"] for h in trainer.history]))
                            + 1, "epochs": args.epochs,
                            "val_mse_by_epoch": [h["val_mse"] for h in trainer.history]})
            if other_test is not None:
                results[-1][f"test_mse_split_{args.also_test_on_n_train}"] = \
                    trainer.evaluate(other_test)["mse"]
            print(json.dumps(results[-1]), flush=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps({"args": vars(args), "results": results,
                                   "provenance": provenance(args.seed)}, indent=1))
    print("| net | direction | a | test MSE | test PSNR (dB) | train minutes |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['net']} | {r['direction']} | {r['a']:g} | {r['test_mse']:.5f} | "
              f"{r['test_psnr']:.2f} | {r['train_minutes']:.1f} |")


if __name__ == "__main__":
    main()
