"""The KTC2023 tank's physics on the CPU: the image mesh's forward + Jacobian against its floor,
an LPGD training step and data generation against the per-sample path, each a paired ratio
measured in one run.

    python -m benchmarks.speed.tank [--repeats 15] [--samples 8] [--quick]

Rows (the ``ktc2023`` preset: 32 x 32 pixels over the 10 mm image mesh, 602 unknowns, 76
injections x 31 differences; data simulated on the 5 mm mesh with 2 edge refinements):

- ``forward + Jacobian / floor`` at batch 1 and 32, on one thread: ``op(x)`` and
  ``op.jacobian(x)`` (B, 2356, 32, 32) against the floor of the same batch: per sample one
  sparse LU of the same CEM system, 2 x 76 triangular solves, and the sparse pixel map applied
  to an element-major (ne, 2356) matrix (one CSR product, the cheapest form of the map);
- ``LPGD training step``: 5 unrolled steps (hidden 32, no direction module), the masked CEM
  data fit in every step, float32, a batch of ``--samples`` masked samples, forward, backward
  and an Adam step; the batched unit-field path against the per-sample path
  (``CEMForward.batched = False``, the operator's code before the batched path, kept for
  fewer patterns than electrodes), as samples/s and their paired ratio;
- ``generation``: ``Problem(ktc2023).samples`` of ``--samples`` samples (phantom, simulation on
  the 5 mm mesh, noise, mask, the masked linearised x0), in one process, both paths;
- ``soak``: ``--soak`` calls of the masked data fit and its backward (second-order terms
  included) on a batch of 8, as in the LPGD step: resident memory after the first 100 calls
  and after the last, and the growth over the second half.

The training and soak rows use the operator as training rebuilds it from the data set
(``operator_from_config``: the batch threads are torch's threads).

Ratios are medians of per-pair ratios with a distribution-free 95% interval
(``benchmarks._timing.paired_ratio``); ``--quick`` runs every row at a tiny size (for tests).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse.linalg as sla
import torch
from threadpoolctl import threadpool_limits

from benchmarks._timing import paired_ratio, print_table
from invtools.data.recipes import Problem, load_recipe
from invtools.nets.unrolled import build_net_from_config
from invtools.operators import operator_from_config
from invtools.operators.composition import operator_parts
from invtools.operators.parametrization import net_operator, to_net

LPGD = {"arch": "lpgd", "steps": 5, "direction": "none", "hidden": 32}
MEDIAN_OF = 3  # calls per reported absolute time (1 with --quick)


def set_batched(op, batched: bool) -> None:
    """Select the batched unit-field path or the per-sample path on every CEM inside ``op``."""
    for part in operator_parts(op):
        if hasattr(part, "batched"):
            part.batched = batched


def interval(r: tuple[float, float, float]) -> str:
    return f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]"


def conductivities(op, batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return 0.8 * torch.exp(0.5 * torch.randn(batch, *op.in_shape, generator=g, dtype=torch.float64))


def jacobian_row(problem: Problem, batch: int, repeats: int) -> list:
    """forward + Jacobian against the floor of the same batch, one thread."""
    op, cem = problem.op, problem.op.outer
    x = conductivities(op, batch)
    with torch.no_grad():
        sigma = op.pixel_map.A(x).numpy()
    rhs = np.random.default_rng(1).standard_normal((cem.system.size, 2 * cem.n_patterns))
    element_rows = np.random.default_rng(2).standard_normal((cem.n_in, cem.n_out))
    to_pixels = op._pixels_by_element

    def floor():
        for s in sigma:
            lu = sla.splu(cem.system.matrix(s), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                          options={"SymmetricMode": True})
            lu.solve(rhs)
            to_pixels @ element_rows

    def ours():
        op(x), op.jacobian(x)

    r = paired_ratio(ours, floor, repeats=repeats)
    t_ours = _median(ours, MEDIAN_OF) / batch * 1e3
    t_floor = _median(floor, MEDIAN_OF) / batch * 1e3
    return [f"forward + Jacobian / floor, B={batch}", f"{t_ours:.2f} ms/sample",
            f"floor {t_floor:.2f} ms/sample", interval(r)]


def _median(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def training_operator(problem: Problem):
    """The network operator as training rebuilds it from a data set's operator record."""
    return net_operator(operator_from_config(problem.op.config()), problem.parametrization)


def training_row(problem: Problem, samples: dict, repeats: int) -> list[list]:
    """One LPGD training step: the batched path against the per-sample path, the latter with
    the batch on torch's threads (as training runs it) and on one thread (its faster setting
    here: SuperLU holds the GIL)."""
    op = training_operator(problem)
    cems = [part for part in operator_parts(op) if hasattr(part, "batched")]
    x, y, x0 = (torch.as_tensor(samples[k], dtype=torch.float32) for k in ("x_net", "y", "x0_net"))
    threads = torch.get_num_threads()
    variants = {"batched": (True, threads), "per-sample": (False, threads),
                "per-sample, 1 batch thread": (False, 1)}
    steps = {}
    for name, (batched, n_threads) in variants.items():
        torch.manual_seed(0)
        net = build_net_from_config(LPGD, op.in_shape, op.out_shape).to(torch.float32)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step(net=net, opt=opt, batched=batched, n_threads=n_threads):
            for cem in cems:
                cem.batched, cem.n_threads = batched, n_threads
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(y, op, x0) - x) ** 2)
            loss.backward()
            opt.step()

        steps[name] = step
    rows = []
    new = len(x) / _median(steps["batched"], MEDIAN_OF)
    for name in ("per-sample", "per-sample, 1 batch thread"):
        r = paired_ratio(steps[name], steps["batched"], repeats=repeats)
        old = len(x) / _median(steps[name], MEDIAN_OF)
        rows.append([f"LPGD training step, B={len(x)}", f"{new:.1f} samples/s", f"{name} {old:.1f} samples/s",
                     interval(r)])
    for cem in cems:
        cem.batched, cem.n_threads = True, threads
    return rows


def generation_row(problem: Problem, n: int, repeats: int) -> list:
    """``Problem.samples`` of n samples, the batched path against the per-sample path."""
    counter = iter(range(10**6))

    def make(batched: bool):
        def call():
            for op in (problem.op, problem.sim_op):
                set_batched(op, batched)
            problem.samples(np.arange(n) + n * next(counter), 7)
        return call

    r = paired_ratio(make(False), make(True), repeats=repeats, warmup=1)
    new, old = (n / _median(make(b), MEDIAN_OF) for b in (True, False))
    for op in (problem.op, problem.sim_op):
        set_batched(op, True)
    return [f"generation, {n} per call", f"{new:.1f} samples/s", f"per-sample {old:.1f} samples/s",
            interval(r)]


def rss_mib() -> float:
    """Resident memory of this process (MiB, from /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def soak_row(problem: Problem, samples: dict, calls: int) -> list:
    """Resident memory over ``calls`` data-fit gradients with their backward (batch 8)."""
    op = training_operator(problem)
    reps = -(-8 // len(samples["y"]))
    x = torch.as_tensor(np.tile(samples["x0_net"], (reps, 1, 1))[:8], dtype=torch.float32)
    y = torch.as_tensor(np.tile(samples["y"], (reps, 1))[:8], dtype=torch.float32)

    def call():
        s = x.clone().requires_grad_()
        _, g = op.data_fit_gradient(s, y)
        (g * g).sum().backward()

    warm = min(100, calls // 2)  # the first calls build caches
    for _ in range(warm):
        call()
    base = rss_mib()
    middle = base
    for i in range(calls - warm):
        call()
        if i == (calls - warm) // 2:
            middle = rss_mib()
    end = rss_mib()
    return [f"soak, {calls} calls of the data fit + backward, B=8",
            f"{end - base:+.1f} MiB after call {warm}", f"{base:.0f} MiB at call {warm}",
            f"{end - middle:+.1f} MiB over the last half"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=15, help="pairs per ratio")
    p.add_argument("--samples", type=int, default=8, help="training batch and generation call size")
    p.add_argument("--soak", type=int, default=600, help="calls in the memory soak")
    p.add_argument("--quick", action="store_true", help="every row at a tiny size (for tests)")
    args = p.parse_args()
    repeats, samples, big = (2, 2, 2) if args.quick else (args.repeats, args.samples, 32)
    soak = 4 if args.quick else args.soak
    if args.quick:
        global MEDIAN_OF
        MEDIAN_OF = 1
    print(f"torch {torch.__version__}; Jacobian rows on 1 thread, training and generation on "
          f"{torch.get_num_threads()} torch threads")
    problem = Problem(load_recipe("ktc2023"))
    data = problem.samples(np.arange(samples), seed=5)
    data["x_net"] = to_net(data["x"], problem.parametrization)
    data["x0_net"] = to_net(data["x0"], problem.parametrization)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        rows = [jacobian_row(problem, b, repeats) for b in (1, big)]
    torch.set_num_threads(threads)
    rows += training_row(problem, data, repeats)
    rows.append(generation_row(problem, samples, max(2, repeats // 3)))
    rows.append(soak_row(problem, data, soak))
    print_table(["row", "ours", "reference", "paired ratio [95%] / growth"], rows)
    print("ratios: forward + Jacobian / floor (acceptance: at most 2); per-sample time / batched "
          "time for training and generation (acceptance: at least 3 and 2)")


if __name__ == "__main__":
    main()
