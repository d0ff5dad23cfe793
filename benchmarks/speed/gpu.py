"""The tank's physics, an LPGD training step and data generation on the CPU and on CUDA, side by
side in one run (CUDA rows only where a GPU is present; the script says so where it is not).

    python -m benchmarks.speed.gpu [--batch 32] [--repeats 5] [--samples 8] [--json FILE]

Rows (the ``ktc2023`` preset's operators):
- ``forward+Jacobian, image mesh``: the 32 x 32 pixel model over the 10 mm mesh (602 unknowns),
  a batch of ``--batch`` conductivities, per sample;
- ``forward+Jacobian, simulation mesh``: the 5 mm mesh with 2 rounds of edge refinement, on
  which the data are simulated, a batch of 2, per sample;
- ``LPGD training step``: the net of ``benchmarks/studies/configs/train_ktc_lpgd.toml`` (5
  steps, hidden 32, the masked CEM data fit in every step), float32, a batch of 8 masked
  samples: forward, backward and an Adam step, in samples/s;
- ``generation``: ``Problem(ktc2023).samples`` (phantom, simulation, noise, mask, the masked
  linearised x0), in one process, samples/s (``invtools generate --workers N`` multiplies the CPU
  figure by up to N).
Columns: ``cpu`` (the default sparse LU, batch over torch's threads), ``cpu dense`` (the GPU's
path, timed on the CPU; not for generation, whose 6.6k-unknown dense factor takes seconds
there), ``cuda`` (the batched dense Cholesky on the GPU), with the peak memory
each run adds (CPU: resident memory; CUDA: ``torch.cuda.max_memory_allocated``). Times are
medians of ``--repeats`` after one warm-up.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks._timing import median_time, peak_memory, print_table
from invtools.data.recipes import Problem, load_recipe, use_solver
from invtools.nets.unrolled import build_net_from_config
from invtools.operators.parametrization import to_net

LPGD = {"arch": "lpgd", "steps": 5, "direction": "none", "hidden": 32}  # as in train_ktc_lpgd.toml


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measured(fn, repeats: int, device: str) -> tuple[float, float]:
    """(median seconds, peak memory MiB added) of ``fn``, timed to the end of its device work
    (the first call is the warm-up: device systems, caches, CUDA kernels)."""

    def synced():
        fn()
        sync()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        seconds = median_time(synced, repeats, warmup=1)
        return seconds, (torch.cuda.max_memory_allocated() - base) / 2**20
    seconds = median_time(synced, repeats, warmup=1)
    return seconds, peak_memory(fn)


def conductivities(op, batch: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = 0.8 * torch.exp(0.5 * torch.randn(batch, *op.in_shape, generator=g, dtype=torch.float64))
    return x.to(device)


def physics_row(name: str, op, batch: int, variants: list[tuple[str, str, str]], repeats: int):
    cells = []
    for _, device, solver in variants:
        use_solver(op, solver)
        x = conductivities(op, batch, device)
        seconds, mib = measured(lambda x=x: (op(x), op.jacobian(x)), repeats, device)
        cells.append((seconds / batch * 1e3, mib))
    use_solver(op, "auto")
    return [name + f" (B={batch}), ms/sample"] + cells


def training_row(problem: Problem, samples: dict, variants, repeats: int):
    cells = []
    op = problem.net_op
    for _, device, solver in variants:
        use_solver(op, solver)
        torch.manual_seed(0)
        net = build_net_from_config(LPGD, op.in_shape, op.out_shape).to(device, torch.float32)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, y, x0 = (torch.as_tensor(samples[k], dtype=torch.float32, device=device)
                    for k in ("x_net", "y", "x0_net"))

        def step(net=net, opt=opt, x=x, y=y, x0=x0):
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(y, op, x0) - x) ** 2)
            loss.backward()
            opt.step()

        seconds, mib = measured(step, repeats, device)
        cells.append((len(x) / seconds, mib))
    use_solver(op, "auto")
    return [f"LPGD training step (B={len(samples['y'])}), samples/s"] + cells


def generation_row(n: int, variants, repeats: int):
    cells = []
    for name, device, solver in variants:
        if name == "cpu dense":  # the simulation mesh's dense factor takes seconds on the CPU
            cells.append(("-", "-"))
            continue
        problem = Problem(load_recipe("ktc2023"), device=device, solver=solver)
        counter = iter(range(10**6))
        seconds, mib = measured(lambda p=problem, c=counter: p.samples(np.arange(n) + n * next(c), 7),
                                max(1, repeats // 2), device)
        cells.append((n / seconds, mib))
    return [f"generation ({n} per call), samples/s"] + cells


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--samples", type=int, default=8, help="samples per training batch and generation call")
    p.add_argument("--skip-cpu-dense", action="store_true", help="leave out the slow CPU dense column")
    p.add_argument("--json", help="write the table here")
    args = p.parse_args()

    cuda = torch.cuda.is_available()
    variants = [("cpu", "cpu", "auto")]
    if not args.skip_cpu_dense:
        variants.append(("cpu dense", "cpu", "dense"))
    if cuda:
        variants.append(("cuda", "cuda", "auto"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          + (f"CUDA: {torch.cuda.get_device_name(0)}" if cuda else
             "CUDA: not available on this machine, so the CUDA column is left out"))

    problem = Problem(load_recipe("ktc2023"))
    samples = problem.samples(np.arange(args.samples), seed=5)
    samples["x_net"] = to_net(samples["x"], problem.parametrization)
    samples["x0_net"] = to_net(samples["x0"], problem.parametrization)
    rows = [physics_row("forward+Jacobian, image mesh", problem.op, args.batch, variants, args.repeats),
            physics_row("forward+Jacobian, simulation mesh", problem.sim_op, 2, variants,
                        max(1, args.repeats // 2)),
            training_row(problem, samples, variants, args.repeats),
            generation_row(args.samples, variants, args.repeats)]

    header = ["row"] + [name for name, _, _ in variants] + [f"{name}: MiB" for name, _, _ in variants]
    table = [[r[0]] + [c[0] for c in r[1:]] + [c[1] for c in r[1:]] for r in rows]
    if cuda:
        header.append("cuda / cpu")
        for r, t in zip(rows, table, strict=True):
            cpu, gpu = r[1][0], r[-1][0]  # the default CPU path against CUDA
            t.append(cpu / gpu if "ms/sample" in r[0] else gpu / cpu)
    print(f"unknowns: image mesh {problem.op.outer.system.size}, simulation mesh "
          f"{problem.sim_op.system.size}")
    print_table(header, table)
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "rows": table, "cuda": cuda,
                                               "torch": torch.__version__}, indent=1))


if __name__ == "__main__":
    main()
