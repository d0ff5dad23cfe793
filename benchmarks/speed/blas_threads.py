"""CEM physics with BLAS capped at one thread (the default) vs the BLAS library's own setting.

    python -m benchmarks.speed.blas_threads [--repeats 7] [--quick]

A/B in one run, interleaved, torch on its default threads (2 here): the forward+Jacobian of
one sample on three meshes, a forward+VJP of a batch of 8 on the batch thread pool, and one
EIT training step of LPGD (20 steps, graph convolutions, 738 elements, batch 8). "physics" is
the time inside the operator; the rest of a training step is the network and autograd.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from benchmarks._timing import print_table
from benchmarks.speed.unrolled import TimedOperator, problem
from forward_models.eit import CEMForward, Electrodes
from invtools.nets import LPGD

SETTINGS = (1, None)  # blas_threads: one thread, library default


def ab(op: CEMForward, fn, repeats: int, timed: TimedOperator | None = None):
    """Median (wall, physics) seconds of ``fn()`` for each blas_threads setting, interleaved."""
    runs: dict = {b: [] for b in SETTINGS}
    for b in SETTINGS:  # warm-up
        op.blas_threads = b
        fn()
    for _ in range(repeats):
        for b in SETTINGS:
            op.blas_threads = b
            if timed is not None:
                timed.seconds = 0.0
            t0 = time.perf_counter()
            fn()
            runs[b].append((time.perf_counter() - t0, timed.seconds if timed else np.nan))
    op.blas_threads = 1
    return {b: np.median(np.array(v), axis=0) for b, v in runs.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: one coarse mesh, 1 repeat, 2 LPGD steps")
    args = p.parse_args()
    if args.quick:
        args.repeats = 1
    rows = []
    electrodes = Electrodes.equally_spaced(16, coverage=0.4, z=0.01)
    for h in (0.2,) if args.quick else (0.04, 0.019, 0.0085):
        op = CEMForward.on_disk(electrodes, h)
        rng = np.random.default_rng(0)
        sigma = torch.as_tensor(np.exp(0.3 * rng.standard_normal((8, op.n_in))))
        w = torch.randn(8, op.n_out, dtype=torch.float64)
        cases = {"fwd+Jacobian, 1 sample": lambda op=op, s=sigma[:1]: op.jacobian(s)}
        if h > 0.01:
            cases["fwd+VJP, batch 8"] = lambda op=op, s=sigma, w=w: op.A_vjp(s, w)
        for name, fn in cases.items():
            t = ab(op, fn, args.repeats)
            rows.append([f"{op.n_in} elements", name, t[1][0], np.nan, t[None][0], np.nan,
                         t[None][0] / t[1][0]])
        print(f"done h={h}", file=sys.stderr)
    op, x, x0, adjacency = problem("eit", args.quick)
    timed = TimedOperator(op)
    with torch.no_grad():
        y = op(x)
    torch.manual_seed(0)
    net = LPGD(op.in_shape, 2 if args.quick else 20, "none", adjacency=adjacency)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step():
        loss = ((net(y, timed, x0) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = ab(op.outer, step, args.repeats, timed)
    rows.append([f"{op.n_in} elements", f"LPGD training step, batch {len(x)}", t[1][0], t[1][1],
                 t[None][0], t[None][1], t[None][0] / t[1][0]])
    print(f"CEM with blas_threads=1 vs None, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, medians of {args.repeats} interleaved repeats")
    print_table(["mesh", "case", "1 BLAS thread (s)", "of it physics (s)", "BLAS default (s)",
                 "of it physics (s)", "default / one"], rows)


if __name__ == "__main__":
    main()
