"""Calibrating the KTC2023 and KIT4 tanks from their saline-only measurements.

    python -m benchmarks.studies.calibrate_tank [--ktc ../shared/ktc2023] [--kit4 ../shared/kit4]

For each tank (KTC2023 ``ref.mat``, KIT4 ``datamat_1_0.mat``) fits the conductivity and every
electrode's contact impedance, centre and width
(:func:`forward_models.eit.calibration.calibrate`) and prints the relative residual with the
nominal description (its best homogeneous conductivity) and after the fit, the fitted
conductivity (in the file's units, 2-D: per metre of depth), the contact impedances' range, the
largest electrode shift and width change along the wall, and the per-channel noise estimated
from the patterns the file injects twice. ``--quick``: a coarse mesh and 3 iterations.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks._timing import print_table
from forward_models.eit.calibration import calibrate, repeat_noise, repeated_patterns
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.ktc2023 import KTC_CONTACT_IMPEDANCE, KTC_FIRST_ELECTRODE, KTC_RADIUS

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
KIT4_RADIUS = 0.14  # m
KIT4_WIDTH = 0.025  # m, each electrode
KIT4_Z = 1e-4  # Ohm m^2, the start of the fit (the archive gives no value)


def ktc_tank(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, Electrodes, float, np.ndarray | None]:
    """KTC2023 ref.mat: voltages (76 31,), currents (76, 32), Mpat (31, 32), nominal electrodes
    (32, counter-clockwise from 90 degrees, 50% coverage), radius, mask."""
    from invtools.devices import load_description
    from invtools.devices.reader import read_reference

    u, currents, measurement = read_reference(load_description("ktc2023"), folder / "ref.mat")
    L = currents.shape[1]
    nominal = Electrodes.equally_spaced(L, 0.5, KTC_CONTACT_IMPEDANCE, offset=KTC_FIRST_ELECTRODE)
    kept = np.isfinite(u)
    return np.where(kept, u, 0.0), currents, measurement, nominal, KTC_RADIUS, None if kept.all() else kept


def kit4_tank(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, Electrodes, float, None]:
    """KIT4 datamat_1_0.mat: voltages (79 16,), currents (79, 16), measurements (16, 16), nominal
    electrodes (16, clockwise from 90 degrees, 2.5 cm wide), radius."""
    import scipy.io

    d = scipy.io.loadmat(folder / "datamat_1_0.mat")
    currents = np.asarray(d["CurrentPattern"], dtype=np.float64).T
    L = currents.shape[1]
    centers = KTC_FIRST_ELECTRODE - 2 * np.pi * np.arange(L) / L
    nominal = Electrodes(centers, np.full(L, KIT4_WIDTH / KIT4_RADIUS), KIT4_Z)
    voltages = np.asarray(d["Uel"], dtype=np.float64).T.ravel()
    # MeasPattern (L, k) holds one measurement per column (U_j - U_{j+1}), as KTC2023's Mpat:
    # Uel = MeasPattern^T U fits the data; its rows (U_j - U_{j-1}) do not
    measurement = np.asarray(d["MeasPattern"], dtype=np.float64).T
    return voltages, currents, measurement, nominal, KIT4_RADIUS, None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ktc", default=str(SHARED / "ktc2023"), help="folder with the KTC2023 ref.mat")
    p.add_argument("--kit4", default=str(SHARED / "kit4"), help="folder with KIT4 datamat_1_0.mat")
    p.add_argument("--mesh-size", type=float, default=1 / 40, help="mesh size over the radius")
    p.add_argument("--edge-levels", type=int, default=2)
    p.add_argument("--max-iter", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="a smoke run: coarse mesh, 3 iterations")
    args = p.parse_args(argv)
    if args.quick:
        args.mesh_size, args.edge_levels, args.max_iter = 1 / 12, 0, 3
    tanks = [("KTC2023 ref.mat", Path(args.ktc), "ref.mat", ktc_tank),
             ("KIT4 datamat_1_0", Path(args.kit4), "datamat_1_0.mat", kit4_tank)]
    fit_rows, noise_rows = [], []
    for name, folder, filename, load in tanks:
        if not (folder / filename).is_file():
            print(f"{name}: skipped (no {folder / filename})")
            continue
        y, currents, measurement, nominal, radius, mask = load(folder)
        t0 = time.perf_counter()
        cal = calibrate(y, currents, measurement, nominal, radius, mesh_size=args.mesh_size * radius,
                        edge_levels=args.edge_levels, mask=mask, max_iter=args.max_iter)
        s = cal.summary()
        off = _off_driven(currents, measurement, y.size)
        r = (cal.data - y)[off]
        fit_rows.append([name, f"{s['residual_before']:.3%}", f"{s['residual_after']:.3%}",
                         f"{float(r @ r) / np.sum((cal.data - y) ** 2):.0%}",
                         f"{s['conductivity']:.4g}", f"{s['z_min']:.2g}..{s['z_max']:.2g}",
                         f"{s['max_shift_mm']:.2f}", f"{s['max_width_change_mm']:.2f}",
                         cal.iterations, f"{time.perf_counter() - t0:.1f}"])
        k = measurement.shape[-2]
        noise = repeat_noise(y, currents, k)
        reversed_pairs = repeated_patterns(currents, reversed_sign=True)
        if noise is None:
            noise_rows.append([name, "no repeated injection: not estimated", "", "", "", ""])
        else:
            noise_rows.append([name, f"{len(noise.pairs)} repeats ({noise.dof} dof) x {k} channels",
                               f"{np.median(noise.channel_std):.3g}",
                               f"{noise.channel_std.min():.3g}..{noise.channel_std.max():.3g}",
                               f"{noise.relative:.2e}", _reversal(y.reshape(-1, k), reversed_pairs)])
    if fit_rows:
        print_table(["tank", "residual nominal", "residual fitted",
                     "share of the fitted residual^2 off the driven electrodes", "sigma (file units)",
                     "z range (Ohm m^2)", "max shift (mm)", "max width change (mm)", "iterations",
                     "time (s)"], fit_rows)
        print()
        print_table(["tank", "repeats", "median channel std (V)", "channel std range (V)",
                     "RMS std / RMS signal", "sign-reversed repeats: RMS difference / RMS signal"],
                    noise_rows)


def _off_driven(currents: np.ndarray, measurement: np.ndarray, m: int) -> np.ndarray:
    """(m,) True for the values whose measurement touches no current-carrying electrode."""
    meas = np.broadcast_to(measurement, (currents.shape[0], *measurement.shape[-2:]))
    touch = np.einsum("pl,pkl->pk", np.abs(currents) > 0, np.abs(meas) > 0)
    return (touch == 0).reshape(m)


def _reversal(y: np.ndarray, pairs: list[tuple[int, int, float]]) -> str:
    """How far patterns driven the other way are from minus the first (not noise: a systematic
    difference of the device, so they are left out of the noise estimate)."""
    if not pairs:
        return "none"
    d = np.concatenate([y[j] - s * y[i] for i, j, s in pairs])
    ref = np.concatenate([y[[i, j]].ravel() for i, j, _ in pairs])
    return f"{len(pairs)} pairs: {np.sqrt(np.mean(d**2) / np.mean(ref**2)):.2e}"


if __name__ == "__main__":
    main()
