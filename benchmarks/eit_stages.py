"""Where the CEM forward+Jacobian spends its time on a small mesh, stage by stage, beside the
floor (one factorisation plus 2 x 16 solves): minimum and median over repeats, one thread.

    python benchmarks/eit_stages.py [--size 2k] [--repeats 40]

Stages (as ``CEMForward.jacobian`` runs them): assemble K(sigma), factorise, the unit solves
with their element gradients and the forward fields' gradients, the transposes, the adjoint
rows of the measurements, the Jacobian's assembly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as sla
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from eit import operator  # noqa: E402

from forward_models.eit import Electrodes  # noqa: E402
from forward_models.eit.forward import Linearization  # noqa: E402
from forward_models.eit.solvers import make_solver  # noqa: E402


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

    def tick(name: str, t0: float) -> float:
        times.setdefault(name, []).append(time.perf_counter() - t0)
        return time.perf_counter()

    MQ = op._measurements_q[0]
    for _ in range(args.repeats):
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
        g_u = np.ascontiguousarray(lin.grad_X.transpose(0, 2, 1))
        g_u *= -op.system.areas
        t = tick("4 transposes", t)
        adj = [MQ @ g.T for g in g_psi]
        tmp = np.empty_like(adj[0])
        J = np.empty((op.n_out, op.n_in))
        t = tick("5 adjoint rows", t)
        for q in range(op.n_patterns):
            block = J[q * MQ.shape[0]:(q + 1) * MQ.shape[0]]
            np.multiply(adj[0], g_u[0, q], out=block)
            for c in range(1, len(adj)):
                block += np.multiply(adj[c], g_u[c, q], out=tmp)
        tick("6 Jacobian assembly", t)
    print(f"CEM {args.size}: {op.mesh.p.shape[1]} nodes, {op.n_in} elements, 1 thread, "
          f"{args.repeats} repeats")
    print("| stage | min (ms) | median (ms) |\n|---|---|---|")
    for name, v in times.items():
        print(f"| {name} | {min(v) * 1e3:.3f} | {np.median(v) * 1e3:.3f} |")


if __name__ == "__main__":
    main()
