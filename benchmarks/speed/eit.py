"""CEM forward, forward+Jacobian and forward+VJP timings against the solver floor and pyEIT.

    python -m benchmarks.speed.eit [--sizes 2k 10k 50k 3d-10k 3d-50k] [--repeats 5] [--no-pyeit]
                             [--batches 8 32] [--quick]

2-D meshes (``2k`` ... ``50k`` nodes): the unit disk, 16 electrodes, 40% coverage. 3-D meshes
(``3d-10k``, ``3d-50k`` nodes): the cylinder of radius 1 and height 1, two rings of 8
electrodes (heights 0.3 and 0.7, 0.2 tall, half the circumference), tetrahedra by extrusion.
All: adjacent currents, adjacent differences (256 measurements). For each mesh:
- ours: ``op(sigma)``, ``op.jacobian(sigma)``, ``op(sigma)`` + ``backward()`` (VJP);
- dense: ``op.jacobian(sigma)`` with ``solver="dense"`` (dense Cholesky, meshes of at most
  8k unknowns; it is the GPU path, timed here on the CPU beside the sparse default);
- floor: one sparse factorisation of the same CEM system plus 2 x n_patterns triangular solves;
- pyEIT 1.2.4 (``pip install pyeit``): ``solve_eit`` and ``compute_jac`` on a pyEIT mesh with
  the same nodes and triangles (point electrodes at the electrode centres; its Jacobian inverts
  the dense stiffness matrix, so it is skipped above ~20k nodes: 50k nodes would need 20 GB).
``--quick``: a smoke run (every 2-D size on a coarse disk, every 3-D size on a coarse
cylinder, 1 repeat, 1 pair, batches of 2).
Timings are medians of interleaved repeats on one sample, single-threaded (torch and BLAS);
``paired``: the median over ``--paired`` back-to-back pairs (operator, floor) of each pair's
ratio, with a distribution-free 95% interval, which drift of a shared machine does not bias
(``each output kept``: the same while the caller still holds the previous Jacobian, so the
operator cannot reuse its memory and writes into fresh pages);
memory is the peak
resident memory added during one call. ``--batches``: forward+Jacobian of a batch of B
conductivities against the floor of the same batch (B factorisations, each with its solves), on
one thread as well.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import scipy.sparse.linalg as sla
import torch
from threadpoolctl import threadpool_limits

from benchmarks._timing import interleaved_times, paired_ratio, peak_memory, print_table
from forward_models.eit import CEMForward, Electrodes
from forward_models.eit.cylinder import CylinderElectrodes
from forward_models.eit.domains import on_cylinder
from forward_models.eit.solvers import DENSE_MAX_UNKNOWNS


def _interval(ratio: tuple[float, float, float]) -> str:
    return f"{ratio[0]:.3g} [{ratio[1]:.3g}, {ratio[2]:.3g}]"


def operator(size: str, electrodes: Electrodes, solver: str = "auto", quick: bool = False) -> CEMForward:
    h = (QUICK_3D if size.startswith("3d") else QUICK_2D) if quick else SIZES[size]
    if size.startswith("3d"):
        rings = CylinderElectrodes(Electrodes.equally_spaced(8, 0.5, 0.01), (0.3, 0.7), 0.2)
        return on_cylinder(rings, 1.0, 1.0, h, n_threads=1, solver=solver)
    return CEMForward.on_disk(electrodes, h, n_threads=1, solver=solver)

SIZES = {"2k": 0.04, "10k": 0.019, "50k": 0.0085, "3d-10k": 0.08, "3d-50k": 0.045}
QUICK_2D, QUICK_3D = 0.1, 0.25  # --quick: the mesh sizes of every 2-D and every 3-D size
PYEIT_MAX_NODES = 20_000


def pyeit_forward(op: CEMForward, electrodes: Electrodes):
    """pyEIT forward object on our mesh: point electrodes at the boundary nodes nearest the centres."""
    from pyeit.eit import protocol
    from pyeit.eit.fem import EITForward
    from pyeit.mesh import PyEITMesh

    p = op.mesh.p
    b = op.mesh.boundary_nodes()
    centres = np.stack([np.cos(electrodes.centers), np.sin(electrodes.centers)])
    el_pos = b[np.argmin(np.linalg.norm(p[:, b, None] - centres[:, None, :], axis=0), axis=0)]
    ref = int(np.argmin(np.linalg.norm(p, axis=0)))  # centre node, not on an electrode
    mesh = PyEITMesh(node=p.T.copy(), element=op.mesh.t.T.copy(), el_pos=el_pos, ref_node=ref)
    proto = protocol.create(electrodes.L, dist_exc=1, step_meas=1, parser_meas="std")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EITForward(mesh, proto)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-pyeit", action="store_true")
    parser.add_argument("--batches", nargs="*", type=int, default=[8, 32])
    parser.add_argument("--paired", type=int, default=31,
                        help="pairs for the paired Jacobian/floor ratio (0: leave it out)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: coarse meshes, 1 repeat, 1 pair, batches of 2")
    args = parser.parse_args()
    if args.quick:
        args.sizes = list(dict.fromkeys("3d" if s.startswith("3d") else "2d" for s in args.sizes))
        args.repeats, args.paired, args.batches = 1, 1, [2] if args.batches else []
    torch.set_num_threads(1)
    threadpool_limits(1)  # one BLAS thread for the floor and pyEIT too, as for our operator
    electrodes = Electrodes.equally_spaced(16, coverage=0.4, z=0.01)
    rows, mem_rows, batch_rows = [], [], []
    for size in args.sizes:
        op = operator(size, electrodes, quick=args.quick)
        rng = np.random.default_rng(0)
        sigma_np = np.exp(0.3 * rng.standard_normal(op.n_in))
        sigma = torch.as_tensor(sigma_np)[None]
        w = torch.randn(1, op.n_out, dtype=torch.float64)
        rhs = np.random.default_rng(1).standard_normal((op.system.size, 2 * op.n_patterns))

        def floor(op=op, sigma_np=sigma_np, rhs=rhs):
            lu = sla.splu(op.system.matrix(sigma_np), permc_spec="MMD_AT_PLUS_A",
                          diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            return lu.solve(rhs)

        def forward_vjp(op=op, sigma=sigma, w=w):
            x = sigma.clone().requires_grad_(True)
            (op(x) * w).sum().backward()
            return x.grad

        kept: list = [None]

        def jacobian_kept(op=op, s=sigma, kept=kept):  # the previous output still held: fresh memory
            kept[0] = op.jacobian(s)

        fns = {"floor": floor, "forward": lambda op=op, s=sigma: op(s),
               "forward+Jacobian": lambda op=op, s=sigma: op.jacobian(s),
               "forward+VJP": forward_vjp}
        if op.system.size <= DENSE_MAX_UNKNOWNS:
            dense = operator(size, electrodes, "dense", args.quick)
            fns["dense fwd+Jacobian"] = lambda op=dense, s=sigma: op.jacobian(s)
        t = dict(zip(fns, interleaved_times(list(fns.values()), args.repeats, warmup=1),
                     strict=True))
        paired = (paired_ratio(fns["forward+Jacobian"], floor, args.paired) if args.paired
                  else (float("nan"),) * 3)
        paired_kept = (paired_ratio(jacobian_kept, floor, args.paired) if args.paired
                       else (float("nan"),) * 3)
        kept[0] = None
        mem = {name: peak_memory(fn) for name, fn in fns.items()}
        n_nodes = op.mesh.p.shape[1]
        t_pyeit_fwd = t_pyeit_jac = float("nan")
        m_pyeit_jac = float("nan")
        if not args.no_pyeit and n_nodes <= PYEIT_MAX_NODES and not size.startswith("3d"):
            fwd = pyeit_forward(op, electrodes)
            t_pyeit_fwd, t_pyeit_jac = interleaved_times(
                [lambda f=fwd, s=sigma_np: f.solve_eit(s), lambda f=fwd, s=sigma_np: f.compute_jac(s)],
                repeats=1 if n_nodes > 5000 else 3, warmup=0)
            m_pyeit_jac = peak_memory(lambda f=fwd, s=sigma_np: f.compute_jac(s))
        dim = "3-D" if size.startswith("3d") else "2-D"
        rows.append([f"{dim}: {n_nodes} nodes / {op.n_in} elements", t["floor"], t["forward"],
                     t["forward+Jacobian"], t["forward+Jacobian"] / t["floor"], _interval(paired),
                     _interval(paired_kept),
                     t.get("dense fwd+Jacobian", float("nan")), t["forward+VJP"], t_pyeit_fwd, t_pyeit_jac,
                     t_pyeit_jac / t["forward+Jacobian"]])
        mem_rows.append([f"{dim}: {n_nodes} nodes", mem["floor"], mem["forward"],
                         mem["forward+Jacobian"], mem["forward+VJP"], m_pyeit_jac])
        for B in args.batches:
            sigmas = np.exp(0.3 * np.random.default_rng(2).standard_normal((B, op.n_in)))
            batch = torch.as_tensor(sigmas)
            floor_b = lambda sigmas=sigmas: [floor(sigma_np=s) for s in sigmas]  # noqa: E731
            ours_b = lambda op=op, s=batch: op.jacobian(s)  # noqa: E731
            tf, tj = interleaved_times([floor_b, ours_b], max(3, args.repeats // 3), warmup=1)
            pb = (paired_ratio(ours_b, floor_b, max(11, args.paired // 3), warmup=1) if args.paired
                  else (float("nan"),) * 3)
            batch_rows.append([f"{dim}: {n_nodes} nodes", B, tf, tj, tj / tf, _interval(pb)])
        print(f"done {size}", file=sys.stderr)
    print(f"CEM, 16 electrodes, adjacent/adjacent (256 measurements; pyEIT: 2-D only), 1 thread, "
          f"torch {torch.__version__}")
    print_table(["mesh", "floor (s)", "forward (s)", "fwd+Jacobian (s)", "Jacobian / floor",
                 "paired Jacobian / floor [95%]", "paired, each output kept [95%]",
                 "dense fwd+Jacobian (s)", "fwd+VJP (s)", "pyEIT fwd (s)", "pyEIT Jacobian (s)",
                 "pyEIT / ours (Jacobian)"], rows)
    print()
    print("Peak resident memory added during one call (MiB)")
    print_table(["mesh", "floor", "forward", "fwd+Jacobian", "fwd+VJP", "pyEIT Jacobian"],
                mem_rows)
    if batch_rows:
        print()
        print("Batched forward+Jacobian against the floor of the same batch (1 thread)")
        print_table(["mesh", "batch", "floor (s)", "fwd+Jacobian (s)", "Jacobian / floor",
                     "paired [95%]"], batch_rows)


if __name__ == "__main__":
    main()
