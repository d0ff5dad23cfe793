"""Solver layers: backward cost of LPGD vs cvxpylayers (implicit) vs diffcp's LPGD mode, and a
learning task (learn LP costs from observed optimal solutions) for LPGD vs implicit vs DBB.

    python -m benchmarks.speed.solver_layers [--sizes 100 1000] [--batch 32] [--skip-cvxpylayers]
                                       [--figure benchmarks/results/solver_layers_learning.png]

Part 1: for LPs (box plus n/2 random inequalities) and QPs (the same constraints plus a
dense PD quadratic), batch 32, time our forward (HiGHS for LPs, Clarabel for QPs, thread
pool over the batch) and our LPGD backward (one re-solve of the perturbed batch), and the
same for cvxpylayers (diffcp, Clarabel) with its default implicit backward and with
diffcp's ``mode="lpgd"``.  Part 2: 12-dimensional LP over a box with a budget constraint;
hidden costs are a linear function of 6 features; a linear model is trained to reproduce
the observed optimal solutions with each backward pass.  Requires ``pip install -e .[bench]``
for the cvxpylayers columns.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from benchmarks._timing import print_table
from invtools.solver_layers import ClarabelQP, HighsLP, OptLayer
from invtools.support.atomic import atomic_path


def problem_data(kind: str, n: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = n // 2
    G = np.vstack([np.eye(n), -np.eye(n), rng.standard_normal((m, n)) / np.sqrt(n)])
    h = np.concatenate([np.ones(2 * n), 0.5 * np.ones(m)])[None].repeat(batch, 0)
    q = rng.standard_normal((batch, n))
    P = None
    if kind == "QP":
        M = rng.standard_normal((n, n)) / np.sqrt(n)
        P = M @ M.T + 0.1 * np.eye(n)
    return P, G, h, q


def time_ours(kind, n, batch):
    P, G, h, q = problem_data(kind, n, batch)
    solver = HighsLP() if kind == "LP" else ClarabelQP(tol=1e-8)
    layer = OptLayer(solver, P=P, G=G, tau=1.0)
    qt = torch.tensor(q, requires_grad=True)
    t0 = time.perf_counter()
    x = layer(qt, None, torch.tensor(h))
    t1 = time.perf_counter()
    (x * torch.randn_like(x)).sum().backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def time_cvxpylayers(kind, n, batch, lpgd: bool):
    import cvxpy as cp
    from cvxpylayers.torch import CvxpyLayer

    P, G, h, q = problem_data(kind, n, batch)
    x = cp.Variable(n)
    qp = cp.Parameter(n)
    objective = qp @ x if P is None else 0.5 * cp.quad_form(x, cp.psd_wrap(P)) + qp @ x
    prob = cp.Problem(cp.Minimize(objective), [G @ x <= h[0]])
    args = {"solve_method": "Clarabel"}
    if lpgd:
        args.update(mode="lpgd", derivative_kwargs={"tau": 1.0, "rho": 0.0})
    layer = CvxpyLayer(prob, parameters=[qp], variables=[x], solver_args=args)
    qt = torch.tensor(q, requires_grad=True)
    t0 = time.perf_counter()
    (sol,) = layer(qt)
    t1 = time.perf_counter()
    (sol * torch.randn_like(sol)).sum().backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def learning_task(epochs: int = 40, seed: int = 0):
    """Loss curves of a linear cost model trained through an LP with each backward pass."""
    rng = np.random.default_rng(seed)
    n, k, n_samples, budget = 12, 6, 160, 4.0
    G = np.vstack([np.eye(n), -np.eye(n), np.ones((1, n))])
    h = np.concatenate([np.ones(n), np.zeros(n), [budget]])
    W_true = rng.standard_normal((n, k))
    feats = torch.tensor(rng.standard_normal((n_samples, k)))
    solver = HighsLP()
    with torch.no_grad():
        target = OptLayer(solver, G=G)(-(feats @ torch.tensor(W_true).T), None,
                                       torch.tensor(h).expand(n_samples, -1))
    variants = {"implicit (GD)": dict(backward="implicit"), "DBB": dict(backward="dbb", tau=1.0),
                "LPGD right": dict(backward="lpgd", tau=1.0),
                "LPGD centered": dict(backward="lpgd", tau=1.0, variant="centered")}
    curves = {}
    for name, kw in variants.items():
        torch.manual_seed(seed)
        W = torch.nn.Parameter(0.1 * torch.randn(n, k, dtype=torch.float64))
        opt = torch.optim.Adam([W], lr=0.05)
        layer = OptLayer(solver, G=G, **kw)
        hb = torch.tensor(h).expand(32, -1)
        losses = []
        for _ in range(epochs):
            total = 0.0
            for idx in torch.randperm(n_samples).split(32):
                x = layer(-(feats[idx] @ W.T), None, hb[: len(idx)])
                loss = ((x - target[idx]) ** 2).sum(dim=1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            losses.append(total / n_samples)
        curves[name] = losses
    return curves


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", type=int, default=[100, 1000])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--skip-cvxpylayers", action="store_true")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--skip-learning", action="store_true")
    p.add_argument("--figure", default="benchmarks/results/solver_layers_learning.png")
    args = p.parse_args()
    rows = []
    for kind in ("LP", "QP"):
        for n in args.sizes:
            fwd, bwd = time_ours(kind, n, args.batch)
            row = [kind, n, args.batch, fwd, bwd, bwd / fwd]
            for lpgd in (False, True):
                if args.skip_cvxpylayers:
                    row += [float("nan"), float("nan")]
                    continue
                cf, cb = time_cvxpylayers(kind, n, args.batch, lpgd)
                row += [cf, cb]
            rows.append(row)
            print(f"done {kind} {n}", file=sys.stderr)
    print(f"Solver layers, batch {args.batch}, {torch.get_num_threads()} threads; seconds")
    print_table(["problem", "n", "batch", "ours fwd", "ours LPGD bwd", "bwd / fwd",
                 "cvxpylayers fwd", "cvxpylayers implicit bwd", "diffcp-lpgd fwd",
                 "diffcp-lpgd bwd"], rows)
    if args.skip_learning:
        return
    curves = learning_task(args.epochs)
    print()
    print(f"Learning LP costs from optimal solutions ({args.epochs} epochs, squared error)")
    print_table(["backward", "epoch 1", "epoch 10", f"epoch {args.epochs}"],
                [[k, v[0], v[min(9, len(v) - 1)], v[-1]] for k, v in curves.items()])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for k, v in curves.items():
        ax.plot(range(1, len(v) + 1), v, label=k, ls="--" if k == "DBB" else "-")
    ax.set(xlabel="epoch", ylabel="training loss", title="Learning LP costs", yscale="log")
    ax.legend()
    fig.tight_layout()
    with atomic_path(args.figure) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
