"""Resident memory across long runs: CEM operator calls and EIT training epochs.

    python -m benchmarks.speed.soak [--calls 1000 5000 10000] [--epochs 1 5 20] [--quick]
    (``--quick``, a smoke run: 10 calls; LPGD none and LPD rma, 2 unrolled steps, 1 and 2
    epochs on 8 + 4 phantoms; one mesh and 1 repeat in the speed part)
    python -m benchmarks.speed.soak --parts speed          # the threaded speed-up only

Part 1, operator: forward + VJP of a batch of 8 (eit-discs2's mesh, 722 elements) on 2 batch
threads, resident memory after 1k, 5k and 10k calls. The row "released elsewhere" restores the
behaviour before the fix (each SuperLU factor released on the caller's thread, where scipy
cannot free it) for the first checkpoint only, side by side in the same run (last, since the
memory it loses stays lost).
Part 2, training: the `Trainer` (DataLoader, Adam, validation every epoch) on 32 training and
8 validation phantoms of eit-discs2, batch 8, LPGD (20 steps) and LPD (10 steps), with no
direction module and with RMA; resident memory after 1, 5 and 20 epochs.

Part 3, speed: forward + VJP of a batch of 8 on 2 persistent batch threads against the same on
one thread, medians of interleaved repeats (the fix must keep the threaded speed-up).

"growth" is resident memory at a checkpoint minus resident memory after the warm-up (the first
100 calls, the first epoch); "per 1k calls" and "per epoch" are the growth rates over the last
interval. Resident memory is read from /proc (Linux).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch.utils.data import TensorDataset

from benchmarks._timing import interleaved_times, print_table
from forward_models.eit import CEMForward, Electrodes
from forward_models.eit import solvers as cem_solvers
from invtools.nets import LPD, LPGD, element_adjacency
from invtools.operators.composition import log_parametrized
from invtools.training.trainer import TrainConfig, Trainer


def rss_mib() -> float:
    """Resident memory of this process (MiB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def eit_operator(n_threads: int = 2) -> CEMForward:
    """The eit-discs2 operator: 16 electrodes, 50% coverage, z = 0.01, h = 0.1 (722 elements)."""
    return CEMForward.on_disk(Electrodes.equally_spaced(16, 0.5, 0.01), 0.1, n_threads=n_threads)


def call_soak(op: CEMForward, checkpoints: list[int], warmup: int = 100,
              seed: int = 0) -> tuple[float, list[float]]:
    """Resident memory (MiB) after ``warmup`` calls, then after each checkpoint (total calls)
    of forward + VJP on a batch of 8 positive conductivities."""
    rng = np.random.default_rng(seed)
    sigma = torch.as_tensor(np.exp(0.3 * rng.standard_normal((8, op.n_in))))
    w = torch.as_tensor(rng.standard_normal((8, op.n_out)))

    def call() -> None:
        s = sigma.clone().requires_grad_()
        (op(s) * w).sum().backward()

    for _ in range(warmup):
        call()
    base, out, done = rss_mib(), [], warmup
    for n in checkpoints:
        for _ in range(n - done):
            call()
        done = n
        out.append(rss_mib())
    return base, out


def released_elsewhere_soak(op: CEMForward, calls: int, warmup: int = 100) -> tuple[float, list[float]]:
    """:func:`call_soak` with the fix undone: factors released on whichever thread drops them."""
    keep = cem_solvers.DirectSolver.__del__
    cem_solvers.DirectSolver.__del__ = lambda self: None
    try:
        return call_soak(op, [calls], warmup)
    finally:
        cem_solvers.DirectSolver.__del__ = keep


def training_soak(arch: str, direction: str, checkpoints: list[int],
                  steps: dict[str, int] | None = None, sizes: tuple[int, int] = (32, 8)
                  ) -> tuple[float, list[float]]:
    """Resident memory (MiB) after epoch 1, then after each checkpoint (total epochs)."""
    from invtools.data.recipes import Problem, load_recipe

    recipe = load_recipe("eit-discs2")
    recipe.x0 = {**recipe.x0, "method": "constant"}  # the memory test needs no linearised start
    problem = Problem(recipe)
    n_train, n_val = sizes
    s = problem.samples(np.arange(n_train + n_val), seed=0)
    x, y, x0 = (torch.as_tensor(v, dtype=torch.float32) for v in (np.log(s["x"]), s["y"],
                                                                   np.log(s["x0"])))
    cem = problem.op
    op = log_parametrized(cem)
    adjacency = element_adjacency(cem.mesh.t)
    steps = steps or {"lpgd": 20, "lpd": 10}
    torch.manual_seed(0)
    if arch == "lpgd":
        net = LPGD(op.in_shape, steps["lpgd"], direction, adjacency=adjacency)
    else:
        net = LPD(op.in_shape, op.out_shape, steps["lpd"], direction=direction, adjacency=adjacency)
    trainer = Trainer(net, op, TensorDataset(x[:n_train], y[:n_train], x0[:n_train]),
                      TensorDataset(x[n_train:], y[n_train:], x0[n_train:]),
                      TrainConfig(epochs=max(checkpoints), batch_size=8), progress=False)
    trainer.fit(stop_after=1)
    base, out = rss_mib(), []
    for n in checkpoints:
        trainer.fit(stop_after=n - trainer.epoch)
        out.append(rss_mib())
    return base, out


def thread_speedup(repeats: int, sizes: tuple[float, ...] = (0.1, 0.04, 0.019)) -> list[list[object]]:
    """Median seconds of forward + VJP (batch 8) on 1 and 2 batch threads, and their ratio."""
    rows = []
    for h in sizes:
        ops = [CEMForward.on_disk(Electrodes.equally_spaced(16, 0.5, 0.01), h, n_threads=n)
               for n in (1, 2)]
        rng = np.random.default_rng(0)
        sigma = torch.as_tensor(np.exp(0.3 * rng.standard_normal((8, ops[0].n_in))))
        w = torch.as_tensor(rng.standard_normal((8, ops[0].n_out)))
        serial, threaded = interleaved_times([lambda op=op, s=sigma, w=w: op.A_vjp(s, w) for op in ops],
                                             repeats=repeats)
        rows.append([f"{ops[0].n_in} elements", serial, threaded, serial / threaded])
    return rows


def rows_for(label: str, unit: str, base: float, checkpoints: list[int],
             rss: list[float]) -> list[list[object]]:
    rows, prev_n, prev_r = [], checkpoints[0], rss[0]
    for n, r in zip(checkpoints, rss, strict=True):
        rate = (r - prev_r) / (n - prev_n) if n > prev_n else float("nan")
        rows.append([label, f"{n} {unit}", base, r, r - base, (r - base) / base,
                     rate * (1000 if unit == "calls" else 1)])
        prev_n, prev_r = n, r
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, nargs="+", default=[1000, 5000, 10000])
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 5, 20])
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 10 calls; LPGD none and LPD rma, 2 unrolled steps, 1 and 2 "
                        "epochs on 8 + 4 phantoms; one mesh and 1 repeat in the speed part")
    p.add_argument("--parts", nargs="+", default=["memory", "speed"], choices=["memory", "speed"])
    p.add_argument("--repeats", type=int, default=15, help="timing repeats of the speed part")
    args = p.parse_args()
    if args.quick:
        args.repeats = 1
    if "speed" in args.parts:
        print(f"Forward + VJP, batch 8, medians of {args.repeats} interleaved repeats")
        print_table(["mesh", "1 thread (s)", "2 persistent threads (s)", "speed-up"],
                    thread_speedup(args.repeats, (0.1,) if args.quick else (0.1, 0.04, 0.019)))
    if "memory" not in args.parts:
        return
    calls, epochs = ([10], [1, 2]) if args.quick else (args.calls, args.epochs)
    warmup = 2 if args.quick else 100
    steps, sizes = ({"lpgd": 2, "lpd": 2}, (8, 4)) if args.quick else (None, (32, 8))
    header = ["case", "after", "RSS after warm-up (MiB)", "RSS (MiB)", "growth (MiB)",
              "growth / RSS", "rate (MiB per 1k calls or per epoch)"]
    base, rss = call_soak(eit_operator(), calls, warmup)
    rows = rows_for("forward+VJP, batch 8, 2 threads", "calls", base, calls, rss)
    print("done operator calls", file=sys.stderr)
    nets = [("lpgd", "none"), ("lpd", "rma")] if args.quick else \
        [(arch, direction) for arch in ("lpgd", "lpd") for direction in ("none", "rma")]
    for arch, direction in nets:
        base, rss = training_soak(arch, direction, epochs, steps, sizes)
        rows += rows_for(f"train {arch.upper()} {direction}", "epochs", base, epochs, rss)
        print(f"done train {arch} {direction}", file=sys.stderr)
    # last: the memory it loses stays lost for the rest of the process
    base, rss = released_elsewhere_soak(eit_operator(), calls[0], warmup)
    rows += rows_for("forward+VJP, factors released elsewhere (before the fix)", "calls", base,
                     calls[:1], rss)
    print(f"Resident memory, torch {torch.__version__}, {torch.get_num_threads()} torch threads")
    print_table(header, rows)


if __name__ == "__main__":
    main()
