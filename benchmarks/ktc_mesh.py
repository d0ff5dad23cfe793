"""The KTC2023 tank model against its mesh: the best homogeneous conductivity fitted to
ref.mat (least squares) and the relative data misfit, by mesh size and electrode-edge refinement.

    python benchmarks/ktc_mesh.py [--ktc ../shared/ktc2023]

A mesh is fine enough when refining it further moves the fitted sigma0 by < 1%. A second table
gives, for noise-free samples of the ``ktc2023`` preset, how far the data simulated on its fine
mesh are from its image mesh's prediction for the same phantom (the discretisation gap).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import print_table  # noqa: E402

from forward_models.eit.ktc2023 import best_homogeneous, ktc_operator  # noqa: E402
from invtools.data.readers import read_measurements  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ktc", default=str(Path(__file__).parents[1].parent / "shared" / "ktc2023"))
    p.add_argument("--meshes", nargs="+", default=["0.02:0", "0.0075:0", "0.0075:1", "0.0075:2",
                                                   "0.005:2", "0.0035:2", "0.0035:3"])
    p.add_argument("--samples", type=int, default=4, help="preset samples for the second table")
    args = p.parse_args()
    ref = read_measurements(Path(args.ktc) / "ref.mat")
    rows = []
    for spec in args.meshes:
        h, levels = float(spec.split(":")[0]), int(spec.split(":")[1])
        t0 = time.perf_counter()
        op = ktc_operator(ref.ktc["currents"], ref.ktc["measurement"], mesh_size=h, edge_levels=levels)
        sigma0 = best_homogeneous(op, ref.y[0])
        with torch.no_grad():
            u = op(torch.full((1, op.n_in), sigma0, dtype=torch.float64))[0].numpy()
        misfit = np.linalg.norm(u - ref.y[0]) / np.linalg.norm(ref.y[0])
        rows.append([h, levels, op.mesh.p.shape[1], op.n_in, sigma0, misfit, time.perf_counter() - t0])
        print(f"done {spec}", file=sys.stderr)
    finest = rows[-1][4]
    for r in rows:
        r.insert(5, r[4] / finest - 1)
    print("KTC2023 ref.mat: best homogeneous fit by mesh (z = 1e-6, 50% coverage)")
    print_table(["mesh size (m)", "edge levels", "nodes", "elements", "sigma0 (S/m)",
                 "vs finest", "relative misfit", "seconds"], rows)
    print()
    print_table(["ktc2023 preset sample", "image mesh elements", "simulation mesh elements",
                 "|y_fine - A_image(x)| / |y_fine|"], preset_gap(args.samples))


def preset_gap(n: int) -> list[list[object]]:
    """The relative gap between noise-free preset data and the image mesh's prediction."""
    from invtools.recipes import Problem, Recipe, load_recipe

    d = load_recipe("ktc2023").to_dict()
    d["noise"] = {"relative": 0.0}
    problem = Problem(Recipe.from_dict(d))
    s = problem.samples(np.arange(n), seed=11)
    with torch.no_grad():
        coarse = problem.op(torch.as_tensor(s["x"])).numpy()
    gaps = np.linalg.norm(s["y"] - coarse, axis=1) / np.linalg.norm(s["y"], axis=1)
    return [[k, problem.op.n_in, problem.sim_op.n_in, g] for k, g in enumerate(gaps)]


if __name__ == "__main__":
    main()
