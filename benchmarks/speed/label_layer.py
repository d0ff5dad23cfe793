"""The labelling LP layer at mesh size: forward and backward passes beside their floor, one HiGHS
solve of the same LP.

    python -m benchmarks.speed.label_layer [--h 0.05] [--classes 3] [--batch 8] [--repeats 3]

A disk mesh with about 3k triangles (h = 0.05), K classes, neighbour smoothness beta = 0.05,
random scores (the values a trained head gives: one class clearly ahead, noise elsewhere).
Floor: one ``scipy.optimize.linprog`` (HiGHS) solve of one sample's LP, times the batch size
(what a solver-only pipeline would spend). Forward: the layer on the batch (HiGHS over a thread
pool). Backward: LPGD right (one perturbed re-solve), centred (two), DBB, and the implicit
(KKT) backward. Medians of ``--repeats`` runs; the ratio column is backward / forward.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from scipy.optimize import linprog

from benchmarks._timing import print_table
from forward_models.eit import Electrodes
from forward_models.eit.mesh import disk_mesh
from invtools.nets.output_layers import neighbour_adjacency
from invtools.operators.geometry import element_adjacency
from invtools.solver_layers import LabelingLP
from invtools.solver_layers.projections import labeling_lp_matrices


def scores(n: int, K: int, batch: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    s = rng.normal(0.0, 0.3, (batch, n, K))
    s[np.arange(batch)[:, None], np.arange(n)[None], rng.integers(0, K, (batch, n))] += 1.0
    return torch.tensor(s)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--h", type=float, default=0.05, help="mesh size of the unit disk (0.05: ~2.9k triangles)")
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--beta", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    mesh = disk_mesh(Electrodes.equally_spaced(16, 0.5), args.h)
    n = mesh.t.shape[1]
    adjacency = neighbour_adjacency((n,), element_adjacency(mesh.t))
    s = scores(n, args.classes, args.batch)
    g = torch.randn(args.batch, n, args.classes, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    A, b, G, h, n_edges = labeling_lp_matrices(adjacency, args.classes)
    q = np.concatenate([-s[0].numpy().ravel(), np.full(n_edges * args.classes, args.beta)])
    floor = args.batch * median_time(
        lambda: linprog(q, A_ub=G, b_ub=h, A_eq=A, b_eq=b, bounds=(None, None), method="highs"), args.repeats)
    backwards = {"LPGD right": {"backward": "lpgd"},
                 "LPGD centred": {"backward": "lpgd", "variant": "centered"},
                 "DBB": {"backward": "dbb"}, "implicit": {"backward": "implicit"}}
    rows = []
    for name, kw in backwards.items():
        layer = LabelingLP(adjacency, args.classes, beta=args.beta, tau=1.0, relative_tau=True, **kw)
        forward_times, backward_times = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            z = layer(s.clone().requires_grad_(True))
            t1 = time.perf_counter()
            (z * g).sum().backward()
            forward_times.append(t1 - t0)
            backward_times.append(time.perf_counter() - t1)
        fwd, bwd = float(np.median(forward_times)), float(np.median(backward_times))
        rows.append([name, n, args.classes, args.batch, floor, fwd, bwd, bwd / fwd, bwd / floor])
        print(f"done {name}", file=sys.stderr)
    print(f"Labelling LP layer: {n} triangles, {args.classes} classes, batch {args.batch}, "
          f"{torch.get_num_threads()} threads; seconds")
    print_table(["backward", "elements", "K", "batch", f"floor ({args.batch} HiGHS solves)", "forward",
                 "backward", "bwd / fwd", "bwd / floor"], rows)


if __name__ == "__main__":
    main()
