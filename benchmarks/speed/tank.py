"""The KTC2023 tank's physics on the CPU: the image mesh's forward + Jacobian against its floor,
an LPGD training step and data generation against the per-sample path, each a paired ratio
measured in one run.

    python -m benchmarks.speed.tank [--repeats 15] [--samples 8] [--rows ...] [--quick]

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
- ``generation, workers``: ``invtools generate`` of ``--worker-samples`` samples of the
  preset into an HDF5 file with 1 and with 2 worker processes, end to end (start-up and the
  file included), and the scaling 2 / 1;
- ``dense batched / sparse``: the linearisation of a batch of 8 (factors and unit fields) by the
  batched dense Cholesky (``solver="dense"``, the GPU's path) against the sparse LUs, on the CPU;
- ``sparse LU / banded``: one image-mesh sample's factorisation and L - 1 unit fields by the
  sparse LU (fixed order, electrode unknowns last) over the banded Cholesky with the electrode
  block as its border (the operator's choice on this mesh), one thread, with the ratio of
  their multiply-adds (the cost model behind ``BANDED_SPEEDUP``);
- ``disk, forward + VJP``: a batch of 8 on the unit disk (16 electrodes, adjacent patterns,
  722 / 4528 / 18138 elements), 2 batch threads: the per-sample path's time over the batched
  path's (how the batched path fares on larger meshes than the tank's);
- ``SuperLU on 2 threads``: 2 x 20 factorisations, then 2 x 20 solves of the L - 1 unit fields,
  of the image mesh's system on 2 threads against one thread (SuperLU holds the GIL: the
  reason the batched path factorises one sample after another);
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

from benchmarks._timing import median_time, paired_ratio, print_table
from invtools.data.recipes import Problem, load_recipe
from invtools.nets.unrolled import build_net_from_config
from invtools.operators import operator_from_config
from invtools.operators.composition import operator_parts
from invtools.operators.parametrization import net_operator, to_net

LPGD = {"arch": "lpgd", "steps": 5, "direction": "none", "hidden": 32}
MEDIAN_OF = 3  # calls per reported absolute time (1 with --quick)
ROWS = ("jacobian", "training", "generation", "workers", "dense", "banded", "disk", "superlu", "soak")


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
    t_ours = median_time(ours, MEDIAN_OF, warmup=0) / batch * 1e3
    t_floor = median_time(floor, MEDIAN_OF, warmup=0) / batch * 1e3
    return [f"forward + Jacobian / floor, B={batch}", f"{t_ours:.2f} ms/sample",
            f"floor {t_floor:.2f} ms/sample", interval(r)]


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
    new = len(x) / median_time(steps["batched"], MEDIAN_OF, warmup=0)
    for name in ("per-sample", "per-sample, 1 batch thread"):
        r = paired_ratio(steps[name], steps["batched"], repeats=repeats)
        old = len(x) / median_time(steps[name], MEDIAN_OF, warmup=0)
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
    new, old = (n / median_time(make(b), MEDIAN_OF, warmup=0) for b in (True, False))
    for op in (problem.op, problem.sim_op):
        set_batched(op, True)
    return [f"generation, {n} per call", f"{new:.1f} samples/s", f"per-sample {old:.1f} samples/s",
            interval(r)]


def workers_row(n: int) -> list:
    """``invtools generate`` with 1 and 2 worker processes, samples/s end to end."""
    import tempfile
    from pathlib import Path

    from invtools.data.generate import generate

    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            generate(load_recipe("ktc2023"), Path(tmp) / f"w{workers}.h5", n, seed=3, workers=workers,
                     block=max(1, n // 4), progress=False)
            rates[workers] = n / (time.perf_counter() - t0)
    return [f"generation, workers, {n} samples", f"2 workers {rates[2]:.1f} samples/s",
            f"1 worker {rates[1]:.1f} samples/s", f"{rates[2] / rates[1]:.2f}"]


def dense_row(problem: Problem, repeats: int) -> list:
    """The batched dense Cholesky against the sparse LUs for a batch of 8, on the CPU."""
    from forward_models.eit.dense_batch import DenseLinearization

    cem = problem.op.outer
    sigma = torch.exp(0.3 * torch.randn(8, cem.n_in, generator=torch.Generator().manual_seed(1),
                                        dtype=torch.float64))
    ds = cem.device_system(torch.device("cpu"))

    def dense():
        return DenseLinearization(ds, sigma).unit_grads

    def sparse():
        return cem.host_batch(sigma).unit_grads

    r = paired_ratio(dense, sparse, repeats=repeats)
    t_dense, t_sparse = (median_time(fn, MEDIAN_OF, warmup=0) * 1e3 for fn in (dense, sparse))
    return ["dense batched / sparse, linearising B=8", f"dense {t_dense:.1f} ms",
            f"sparse {t_sparse:.1f} ms", interval(r)]


def banded_row(problem: Problem, repeats: int) -> list:
    """Factorisation and L - 1 unit fields of one image-mesh sample, one thread: the banded
    Cholesky (:mod:`forward_models.eit.banded`, the operator's choice there) against the sparse
    LU in its fixed order with the electrode unknowns last."""
    from forward_models.eit.banded import BandedOrder

    cem = problem.op.outer
    system = cem.system
    K = system.matrix(np.exp(0.3 * np.random.default_rng(4).standard_normal(system.areas.size)))
    band, sparse = BandedOrder(K, cem.n_electrodes - 1), cem.elimination_order()

    def banded():
        band.factorise(K).unit_fields()

    def lu():
        sparse.factorise(K).unit_fields()

    with threadpool_limits(1):
        r = paired_ratio(lu, banded, repeats=repeats)
        t_band, t_lu = (median_time(fn, MEDIAN_OF, warmup=0) * 1e3 for fn in (banded, lu))
    return ["sparse LU / banded, factor + unit fields", f"banded {t_band:.2f} ms",
            f"sparse LU {t_lu:.2f} ms (flops ratio {band.flops() / sparse.flops():.1f})", interval(r)]


def disk_rows(repeats: int, sizes: tuple[float, ...]) -> list[list]:
    """forward + VJP of a batch of 8 on the disk: per-sample time / batched time."""
    from forward_models.eit import CEMForward, Electrodes

    rows = []
    for h in sizes:
        op = CEMForward.on_disk(Electrodes.equally_spaced(16, 0.5, 0.01), h, n_threads=2)
        rng = np.random.default_rng(0)
        sigma = torch.as_tensor(np.exp(0.3 * rng.standard_normal((8, op.n_in))))
        w = torch.as_tensor(rng.standard_normal((8, op.n_out)))

        def call(batched: bool, op=op, sigma=sigma, w=w):
            def run():
                op.batched = batched
                s = sigma.clone().requires_grad_()
                (op(s) * w).sum().backward()
            return run

        r = paired_ratio(call(False), call(True), repeats=repeats)
        t = median_time(call(True), MEDIAN_OF, warmup=0)
        rows.append([f"disk, forward + VJP, B=8, {op.n_in} elements", f"{t * 1e3:.1f} ms",
                     "per-sample path", interval(r)])
    return rows


def superlu_threads_rows(problem: Problem, n: int) -> list[list]:
    """Time on 2 threads / time on 1 thread of n factorisations (and n solves) per thread."""
    from concurrent.futures import ThreadPoolExecutor

    from forward_models.eit.solvers import DirectSolver

    system = problem.op.outer.system
    rng = np.random.default_rng(0)
    Ks = [system.matrix(np.exp(0.3 * rng.standard_normal(system.areas.size))) for _ in range(2)]
    rhs = system.unit_rhs()
    lus = [DirectSolver(K) for K in Ks]
    work = {"factorisations": lambda i: [DirectSolver(Ks[i]) for _ in range(n)],
            "unit solves": lambda i: [lus[i].solve(rhs) for _ in range(n)]}
    rows = []
    with ThreadPoolExecutor(2) as pool:
        for name, fn in work.items():
            t0 = time.perf_counter()
            fn(0), fn(1)
            one = time.perf_counter() - t0
            t0 = time.perf_counter()
            list(pool.map(fn, (0, 1)))
            two = time.perf_counter() - t0
            rows.append([f"SuperLU on 2 threads, 2 x {n} {name}", f"{two * 1e3:.0f} ms",
                         f"1 thread {one * 1e3:.0f} ms", f"{two / one:.2f}"])
    return rows


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
    p.add_argument("--worker-samples", type=int, default=96, help="samples per generate run")
    p.add_argument("--quick", action="store_true", help="every row at a tiny size (for tests)")
    p.add_argument("--rows", nargs="*", choices=ROWS, default=list(ROWS),
                   help="the groups of rows to run (default: all)")
    args = p.parse_args()
    want = set(args.rows)
    repeats, samples, big = (2, 2, 2) if args.quick else (args.repeats, args.samples, 32)
    soak = 4 if args.quick else args.soak
    worker_samples = 4 if args.quick else args.worker_samples
    if args.quick:
        global MEDIAN_OF
        MEDIAN_OF = 1
    print(f"torch {torch.__version__}; Jacobian rows on 1 thread, training and generation on "
          f"{torch.get_num_threads()} torch threads")
    # first: forked workers, before this process has threads
    workers = [workers_row(worker_samples)] if "workers" in want else []
    problem = Problem(load_recipe("ktc2023"))
    data = problem.samples(np.arange(samples), seed=5)
    data["x_net"] = to_net(data["x"], problem.parametrization)
    data["x0_net"] = to_net(data["x0"], problem.parametrization)
    threads = torch.get_num_threads()
    rows = []
    if "jacobian" in want:
        torch.set_num_threads(1)
        with threadpool_limits(1):
            rows += [jacobian_row(problem, b, repeats) for b in (1, big)]
        torch.set_num_threads(threads)
    groups = {"training": lambda: training_row(problem, data, repeats),
              "generation": lambda: [generation_row(problem, samples, max(2, repeats // 3))],
              "workers": lambda: workers,
              "dense": lambda: [dense_row(problem, repeats)],
              "banded": lambda: [banded_row(problem, repeats)],
              "disk": lambda: disk_rows(repeats, (0.3,) if args.quick else (0.1, 0.04, 0.02)),
              "superlu": lambda: superlu_threads_rows(problem, 4 if args.quick else 20),
              "soak": lambda: [soak_row(problem, data, soak)]}
    for name, make in groups.items():
        if name in want:
            rows += make()
    print_table(["row", "ours", "reference", "paired ratio [95%] / growth"], rows)
    print("ratios: forward + Jacobian / floor (acceptance: at most 2); per-sample time / batched "
          "time for training and generation (acceptance: at least 3 and 2)")


if __name__ == "__main__":
    main()
