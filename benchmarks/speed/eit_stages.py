"""Where the CEM forward+Jacobian spends its time on a small mesh, stage by stage, beside the
floor (one factorisation plus 2 x 16 solves): minimum and median over repeats, one thread.

    python -m benchmarks.speed.eit_stages [--size 2k] [--repeats 40]

Stages (as ``CEMForward.jacobian`` runs them): assemble K(sigma), factorise, the unit solves
with their element gradients and the forward fields' gradients, the forward gradients as rows, the adjoint
rows of the measurements, the Jacobian's assembly into a fresh output (``torch.empty``) and
again into the same, already mapped memory, which is what ``CEMForward.jacobian`` writes into
when it reuses its previous output: the difference is the page faults of a new output,
counted per stage (minor faults, median).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import scipy.sparse.linalg as sla
import torch
from threadpoolctl import threadpool_limits

from benchmarks.speed.eit import operator
from forward_models.eit import Electrodes
from forward_models.eit.per_sample import Linearization, sum_of_products
from forward_models.eit.solvers import make_solver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="2k")
    p.add_argument("--repeats", type=int, default=40)
    args = p.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)
    op = operator(args.size, Electrodes.equally_spaced(16, coverage=0.4, z=0.01))
    sigma_t = torch.as_tensor(np.exp(0.3 * np.random.default_rng(0).standard_normal(op.n_in)))[None]
    sigma = sigma_t[0].numpy()
    rhs = np.random.default_rng(1).standard_normal((op.system.size, 2 * op.n_patterns))
    times: dict[str, list[float]] = {}
    faults: dict[str, list[int]] = {}
    last_faults = [0]

    def minor_faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def tick(name: str, t0: float) -> float:
        times.setdefault(name, []).append(time.perf_counter() - t0)
        now = minor_faults()
        faults.setdefault(name, []).append(now - last_faults[0])
        last_faults[0] = now
        return time.perf_counter()

    MQ = op._measurements_q[0]
    shape = (op.n_patterns, -1, op.n_in)
    for _ in range(args.repeats):
        last_faults[0] = minor_faults()
        t = time.perf_counter()
        lu = sla.splu(op.system.matrix(sigma), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
        lu.solve(rhs)
        t = tick("floor", t)
        op.jacobian(sigma_t)
        t = tick("forward+Jacobian", t)
        K = op.system.matrix(sigma)
        t = tick("1 assemble K", t)
        solver = make_solver(K, op.solver_kind)
        t = tick("2 factorise", t)
        lin = Linearization(op.system, solver, op.currents)
        t = tick("3 unit solves, gradients, forward fields", t)
        g_psi = lin.unit_gradients()
        g_u = lin.forward_gradient_rows(-op.system.areas)
        t = tick("4 forward gradient rows", t)
        adj = torch.from_numpy(np.stack([MQ @ g.T for g in g_psi]))  # (d, m, ne)
        g_rows = torch.from_numpy(g_u)
        t = tick("5 adjoint rows", t)
        J = torch.empty((op.n_out, op.n_in), dtype=torch.float64)
        sum_of_products(J.view(shape), adj[:, None], g_rows[:, :, None])
        t = tick("6 Jacobian assembly, fresh output", t)
        sum_of_products(J.view(shape), adj[:, None], g_rows[:, :, None])
        tick("7 the same into mapped memory (a reused output; 6 - 7: page faults)", t)
        del J
    print(f"CEM {args.size}: {op.mesh.p.shape[1]} nodes, {op.n_in} elements, 1 thread, "
          f"{args.repeats} repeats")
    print("| stage | min (ms) | median (ms) | minor page faults (median) |\n|---|---|---|---|")
    for name, v in times.items():
        print(f"| {name} | {min(v) * 1e3:.3f} | {np.median(v) * 1e3:.3f} | "
              f"{np.median(faults[name]):.0f} |")


if __name__ == "__main__":
    main()
