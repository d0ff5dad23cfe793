"""How long a KIT4 model takes to make, from a small timed run: ``invtools generate`` of the
shipped recipe (datasets/recipes/kit4.toml) for N samples, two epochs of the training config
(datasets/train_kit4.toml's net and batch size) on them, and one ``reconstruct --device kit4
--model`` of a shared file; then the estimate for the config's data set and epochs.

    python -m benchmarks.studies.kit4_train_timing [-n 64] [--kit4 ../shared/kit4]

Prints the recipe's calibration (sigma0, contact impedance, noise source and RMS), samples/s of
generation (one worker, the one-off calibration counted apart), seconds per training epoch
per 1000 samples, and the estimated wall time of 4000 + 200 samples and 12 epochs on this
machine (generation scales with --workers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from invtools.workflow import cli

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "datasets" / "recipes" / "kit4.toml"
TRAIN = ROOT / "datasets" / "train_kit4.toml"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=64, help="samples to generate and train on")
    parser.add_argument("--kit4", default=str(ROOT.parent / "shared" / "kit4"), help="the KIT4 files")
    args = parser.parse_args(argv)

    from forward_models.eit.device_recipe import device_setup
    from invtools.data.recipes import Problem, load_recipe

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = folder / "kit4.toml"  # the shipped recipe, pointed at --kit4's reference
        recipe.write_text(f'base = "{RECIPE}"\n[operator]\nreference = "{Path(args.kit4).resolve()}'
                          '/datamat_1_0.mat"\n')
        t = time.perf_counter()
        problem = Problem(load_recipe(recipe))
        setup_s = time.perf_counter() - t
        _, _, s = device_setup(problem.recipe.operator)
        print(f"calibration: sigma0 {s.sigma0:.4g} S/m, contact impedance {s.contact_impedance:.3g} Ohm m^2, "
              f"noise from {s.noise_source}: RMS std {np.sqrt(np.mean(s.noise_std**2)):.3g} (file unit, "
              f"noise_scale included); operator build {setup_s:.1f} s")
        t = time.perf_counter()
        cli.main(["generate", str(recipe), "--out", str(folder / "train.h5"), "-n", str(args.n), "--seed",
                  "1", "--quiet"])
        gen_s = time.perf_counter() - t
        cfg = tomllib.loads(TRAIN.read_text())
        train = (f'out = "run"\n[data]\ntrain = "train.h5"\nval = "train.h5"\n[net]\narch = "unet"\n'
                 f'levels = {cfg["net"]["levels"]}\nhidden = {cfg["net"]["hidden"]}\nmask_input = true\n'
                 f'[train]\nepochs = 2\nbatch_size = {cfg["train"]["batch_size"]}\nlr = 2e-3\nseed = 0\n')
        (folder / "train.toml").write_text(train)
        t = time.perf_counter()
        cli.main(["train", str(folder / "train.toml"), "--quiet"])
        train_s = time.perf_counter() - t
        epoch_s = float(np.loadtxt(folder / "run" / "history.csv", delimiter=",", skiprows=1,
                                   usecols=3, ndmin=1)[-1])  # the second epoch: no start-up in it
        t = time.perf_counter()
        cli.main(["reconstruct", "--device", "kit4", "--model", str(folder / "run" / "best.pt"),
                  "--measurements", str(Path(args.kit4) / "datamat_2_1.mat"), "--out",
                  str(folder / "rec.h5")])
        rec_s = time.perf_counter() - t
    rate = args.n / gen_s
    per_1000 = epoch_s / args.n * 1000  # train and a validation pass over the same n: an upper bound
    n_train, n_val, epochs = 4000, 200, cfg["train"]["epochs"]
    total_h = ((n_train + n_val) / rate + epochs * per_1000 * n_train / 1000) / 3600
    print(f"generation: {args.n} samples in {gen_s:.1f} s ({rate:.2f} samples/s, one worker, with the "
          f"calibration)")
    print(f"training: 2 epochs on {args.n} samples (train and val) in {train_s:.1f} s with the start-up; "
          f"the second {epoch_s:.1f} s ({per_1000:.0f} s per 1000 samples)")
    print(f"reconstruct --device kit4 --model: {rec_s:.1f} s")
    print(f"estimate for {n_train} + {n_val} samples and {epochs} epochs: {total_h:.1f} h on this machine "
          "(one worker; generation divides by --workers)")


if __name__ == "__main__":
    main()
