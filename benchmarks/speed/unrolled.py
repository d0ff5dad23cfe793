"""Training-step time, peak memory and physics share of every (net x direction) pair.

    python -m benchmarks.speed.unrolled [--problems blur1d eit] [--repeats 5] [--quick]

Problems: the 1-D quadratic-window blur (batch 32) and EIT on a ~750-element mesh
(16 electrodes, adjacent patterns, batch 8, graph convolutions on the mesh, log-conductivity
parametrisation sigma = exp(s)). LPGD has 20
steps, LPD 10. A step is forward + backward (through the physics, second-order terms
included) + Adam update. "physics" is the time spent inside the operator (forward solves,
JVPs, VJPs, HVPs); "network" is the rest (network kernels, autograd bookkeeping, glue).
Repeats are interleaved over all (net x direction) pairs, so every pair sees the same machine
state; medians are reported.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from benchmarks._timing import peak_memory, print_table
from forward_models.blur import QuadraticWindowBlur
from forward_models.eit import CEMForward, Electrodes
from invtools.data.phantoms import random_walk_signals
from invtools.nets import DIRECTIONS, LPD, LPGD, element_adjacency
from invtools.operators import Operator
from invtools.operators.composition import log_parametrized


class TimedOperator(Operator):
    """Delegates to an operator and accumulates the wall time spent in its physics."""

    def __init__(self, op: Operator):
        self.op, self.in_shape, self.out_shape, self.has_hvp = (op, op.in_shape, op.out_shape,
                                                                op.has_hvp)
        self.seconds = 0.0

    def _timed(self, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - t0

    def check_input(self, x):
        self.op.check_input(x)

    def _forward(self, x):
        return self._timed(self.op._forward, x)

    def _jvp(self, x, s, v):
        return self._timed(self.op._jvp, x, s, v)

    def _vjp(self, x, s, w):
        return self._timed(self.op._vjp, x, s, w)

    def _hvp(self, x, s, w, u):
        return self._timed(self.op._hvp, x, s, w, u)


def problem(name: str, quick: bool = False):
    """(operator, x, x0, adjacency); ``quick``: a batch of 2 on a coarse mesh (h = 0.25)."""
    g = torch.Generator().manual_seed(0)
    if name == "blur1d":
        op = QuadraticWindowBlur(a=2.0)
        x = torch.as_tensor(random_walk_signals(32, 53, np.random.default_rng(0)),
                            dtype=torch.float32)
        return op, x, torch.zeros_like(x), None
    cem = CEMForward.on_disk(Electrodes.equally_spaced(16, 0.4, 0.01), 0.25 if quick else 0.1)
    x = 0.5 * torch.rand(2 if quick else 8, cem.n_in, generator=g)  # log-conductivity
    return log_parametrized(cem), x, torch.zeros_like(x), element_adjacency(cem.mesh.t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problems", nargs="+", default=["blur1d", "eit"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 unrolled steps, 1 repeat, "
                   "EIT on a coarse mesh, batch 2")
    args = p.parse_args()
    steps = {"lpgd": 2, "lpd": 2} if args.quick else {"lpgd": 20, "lpd": 10}
    if args.quick:
        args.repeats = 1
    rows = []
    for name in args.problems:
        op, x, x0, adjacency = problem(name, args.quick)
        timed = TimedOperator(op)
        with torch.no_grad():
            y = op(x)
        cases = []
        for net_name in ("lpgd", "lpd"):
            for direction in DIRECTIONS:
                torch.manual_seed(0)
                if net_name == "lpgd":
                    net = LPGD(op.in_shape, steps["lpgd"], direction, adjacency=adjacency)
                else:
                    net = LPD(op.in_shape, op.out_shape, steps["lpd"], direction=direction,
                              adjacency=adjacency)
                opt = torch.optim.Adam(net.parameters(), 1e-3)

                def step(net=net, opt=opt, y=y, timed=timed, x0=x0, x=x):
                    loss = ((net(y, timed, x0) - x) ** 2).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

                step()  # warm-up
                cases.append({"net": net_name, "direction": direction, "step": step,
                              "times": [], "physics": []})
        for _ in range(args.repeats):  # interleaved: every case sees the same machine state
            for case in cases:
                timed.seconds = 0.0
                t0 = time.perf_counter()
                case["step"]()
                case["times"].append(time.perf_counter() - t0)
                case["physics"].append(timed.seconds)
        plain = {}
        for case in cases:
            t, ph = float(np.median(case["times"])), float(np.median(case["physics"]))
            if case["direction"] == "none":
                plain[case["net"]] = t
            rows.append([name, case["net"], case["direction"], x.shape[0], t, ph, t - ph,
                         1 - ph / t, t / plain[case["net"]], peak_memory(case["step"])])
            print(f"done {name} {case['net']} {case['direction']}", file=sys.stderr)
    print(f"Training step (forward + backward + Adam), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print_table(["problem", "net", "direction", "batch", "step (s)", "physics (s)",
                 "network (s)", "network share", "vs plain", "peak MiB"], rows)


if __name__ == "__main__":
    main()
