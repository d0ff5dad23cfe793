"""The KTC2023 organisers' baseline (invtools.devices.ktc2023.baseline) on the four real targets at
the seven difficulty levels: per file the fraction of the 256 x 256 pixels in each class and the
seconds of the reconstruction (the step's factor for a level's mask is built on its first file;
its time is printed per level). The organisers' parameters are used as they are; no ground
truth is read.

    OMP_NUM_THREADS=1 python -m benchmarks.studies.ktc_baseline_check [--folder /work/shared/ktc2023]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from forward_models.eit.ktc2023 import ktc_image_operator
from invtools.data.missing_data import level_mask
from invtools.devices import load_description, read_device_file
from invtools.devices.ktc2023 import baseline as kb


def level_folder(root: Path, level: int) -> Path:
    return root if level == 1 else root / "levels" / f"level{level}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/work/shared/ktc2023"))
    parser.add_argument("--levels", type=int, nargs="*", default=list(range(1, 8)))
    args = parser.parse_args(argv)

    ref = read_device_file(load_description("ktc2023"), args.folder / "data1.mat")
    t0 = time.perf_counter()
    # the organisers' solver takes the reference's injections (Injref) as they are
    op = ktc_image_operator(ref.extra["currents"], ref.extra["measurement"])
    step = kb.prepare_baseline(op, ref.reference, kb.SIGMA0)
    print(f"operator, Jacobian at sigma0 = {kb.SIGMA0} S/m and prior: {time.perf_counter() - t0:.2f} s")
    print(f"{'level':>5} {'file':>9} {'kept':>5} {'water':>6} {'resist':>6} {'conduct':>7} {'s':>6}")
    for level in args.levels:
        folder = level_folder(args.folder, level)
        t_level = time.perf_counter()
        step.factor(level_mask(ref.extra["currents"], ref.extra["measurement"], level))
        t_factor = time.perf_counter() - t_level
        for k in range(1, 5):
            meas = read_device_file(load_description("ktc2023"), folder / f"data{k}.mat")
            if not np.allclose(meas.extra["currents"], ref.extra["currents"]):
                raise SystemExit(f"{folder}/data{k}.mat: injections differ from the reference's")
            keep = np.ones(op.n_out, dtype=bool) if meas.mask is None else meas.mask
            t = time.perf_counter()
            _, labels = kb.organisers_baseline(meas.y[0], meas.reference, keep, op, kb.SIGMA0, step)
            dt = time.perf_counter() - t
            frac = np.bincount(labels.ravel(), minlength=3) / labels.size
            cells = f"{frac[0]:6.3f} {frac[1]:6.3f} {frac[2]:7.3f} {dt:6.3f}"
            print(f"{level:>5} {f'data{k}.mat':>9} {keep.sum():>5} {cells}")
        print(f"{level:>5} {'(factor)':>9} {'':>5} {'':>6} {'':>6} {'':>7} {t_factor:6.3f}")


if __name__ == "__main__":
    main()
