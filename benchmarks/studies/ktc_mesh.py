"""The KTC2023 tank model against its mesh: the best homogeneous conductivity fitted to
ref.mat (least squares) and the relative data misfit, by mesh size and electrode-edge refinement.

    python -m benchmarks.studies.ktc_mesh [--ktc ../shared/ktc2023]

A mesh is fine enough when refining it further moves the fitted sigma0 by < 1%. A second table
gives, for noise-free samples of the ``ktc2023`` preset, how far the measured change simulated
on its fine mesh is from its image model's prediction for the same phantom (the discretisation
gap). A third fits the contact impedance (one for all electrodes) with sigma0 to ref.mat on the
accurate mesh; a fourth, the noise model from the injections that the files measure twice.

    python -m benchmarks.studies.ktc_mesh --parts contact noise   # the last two only (15 s)

``--quick`` (a smoke run): one coarse mesh (2 cm) for the first table and the contact
impedances, one preset sample, and no least-squares fit of the contact impedance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._timing import print_table
from forward_models.eit.ktc2023 import best_homogeneous, ktc_operator
from invtools.data.readers import Measurements
from invtools.devices import load_description
from invtools.devices.reader import read_reference

QUICK_MESH = "0.02:0"  # --quick: the one mesh (size in m : edge levels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ktc", default=str(Path(__file__).parents[2].parent / "shared" / "ktc2023"))
    p.add_argument("--meshes", nargs="+", default=["0.02:0", "0.0075:0", "0.0075:1", "0.0075:2",
                                                   "0.005:2", "0.0035:2", "0.0035:3"])
    p.add_argument("--samples", type=int, default=4, help="preset samples for the second table")
    p.add_argument("--parts", nargs="+", default=["mesh", "preset", "contact", "noise"])
    p.add_argument("--quick", action="store_true", help="a smoke run: one coarse mesh, one sample, no fit")
    args = p.parse_args()
    if args.quick:
        args.meshes, args.samples = [QUICK_MESH], 1
    ref = read_tank(Path(args.ktc) / "ref.mat")
    if "mesh" in args.parts:
        mesh_table(args, ref)
    if "preset" in args.parts:
        print()
        print_table(["ktc2023 preset sample", "image unknowns", "simulation mesh elements",
                     "|y - A_image(x)| / |y - A_image(water)|"], preset_gap(args.samples))
    if "contact" in args.parts:
        print()
        contact_table(ref, args.quick)
    if "noise" in args.parts:
        print()
        noise_table(args)


def read_tank(path: Path, voltages: str = "Uelref") -> Measurements:
    """A tank file's ``voltages`` (its reference's by default) with its patterns, read by the
    tank's description."""
    desc = load_description("ktc2023")
    if voltages != "Uelref":
        from invtools.devices import read_device_file

        return read_device_file(desc, path, with_reference=False)
    u, currents, measurement = read_reference(desc, path)
    return Measurements(u[None], path, extra={"currents": currents, "measurement": measurement})


def mesh_table(args, ref) -> None:
    rows = []
    for spec in args.meshes:
        h, levels = float(spec.split(":")[0]), int(spec.split(":")[1])
        t0 = time.perf_counter()
        op = ktc_operator(ref.extra["currents"], ref.extra["measurement"], mesh_size=h, edge_levels=levels)
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


def contact_table(ref, quick: bool = False) -> None:
    """sigma0 and misfit on the accurate mesh by contact impedance, and the least-squares fit
    (quick: on a coarse mesh, two impedances, no fit)."""
    from forward_models.eit.ktc2023 import KTC_ACCURATE_MESH, fit_contact_impedance

    h, levels = (float(QUICK_MESH.split(":")[0]), 0) if quick else KTC_ACCURATE_MESH
    rows = []
    for z in (1e-6, 1e-3) if quick else (1e-8, 1e-6, 1e-4, 1e-3, 1e-2):
        op = ktc_operator(ref.extra["currents"], ref.extra["measurement"], mesh_size=h, edge_levels=levels,
                          contact_impedance=z)
        sigma0 = best_homogeneous(op, ref.y[0])
        with torch.no_grad():
            u = op(torch.full((1, op.n_in), sigma0, dtype=torch.float64))[0].numpy()
        rows.append([f"{z:.0e}", sigma0, np.linalg.norm(u - ref.y[0]) / np.linalg.norm(ref.y[0])])
    if not quick:
        z, sigma0, misfit = fit_contact_impedance(ref.y[0], ref.extra["currents"], ref.extra["measurement"])
        rows.append([f"least squares: {z:.2g}", sigma0, misfit])
    print(f"ref.mat on the {'coarse' if quick else 'accurate'} mesh ({h} m, {levels} edge levels): "
          "one contact impedance for all")
    print_table(["contact impedance (Ohm m^2)", "sigma0 (S/m)", "relative misfit"], rows)


def noise_table(args) -> None:
    """The noise model std = sqrt((a |u|)^2 + b^2) from the injections measured twice."""
    from forward_models.eit.ktc2023 import noise_from_repeats

    files = ["ref.mat", "data1.mat", "data2.mat", "data3.mat", "data4.mat"]
    u = np.stack([read_tank(Path(args.ktc) / f, "Uelref" if f == "ref.mat" else "Uel").y[0] for f in files])
    rows = [[f, *noise_from_repeats(u[k])] for k, f in enumerate(files)]
    rows.append(["all five", *noise_from_repeats(u)])
    print("noise from the 4 injections driven twice (31 differences each), std = sqrt((a |u|)^2 + b^2)")
    print_table(["file", "a (relative)", "b (data unit)"], rows)


def preset_gap(n: int) -> list[list[object]]:
    """The relative gap between noise-free preset data and the image mesh's prediction."""
    from invtools.data.recipes import Problem, Recipe, load_recipe

    d = load_recipe("ktc2023").to_dict()
    d["noise"] = {"relative": 0.0, "absolute": 0.0}
    problem = Problem(Recipe.from_dict(d))
    s = problem.samples(np.arange(n), seed=11)
    with torch.no_grad():
        coarse = problem.op(torch.as_tensor(s["x"])).numpy()
    change = s["y"] - problem.references()[1]
    gaps = np.linalg.norm(s["y"] - coarse, axis=1) / np.linalg.norm(change, axis=1)
    return [[k, problem.op.n_in, problem.sim_op.n_in, g] for k, g in enumerate(gaps)]


if __name__ == "__main__":
    main()
