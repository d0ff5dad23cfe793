"""KTC2023: the label frame fitted to the four training targets' measured change, and what it
does to every method's score on the 28 real cases.

    python -m benchmarks.studies.ktc_frame --json benchmarks/results/ktc_frame.json
    python -m benchmarks.studies.ktc_frame --from-json benchmarks/results/ktc_frame.json

1. **The measured change against the truths.** Per target, the change ``data{t}.mat - ref.mat``
   (at the nominal current) against the model's change of its truth, drawn at saturated
   contrast on frames ``--scales`` times the image's square, on the tank's accurate mesh
   (:func:`invtools.devices.label_frame.frame_misfit`: the misfit left after the best uniform
   drift of the water). Printed: at frame 1 the gain k of the least-squares fit
   ``dy = k dm + c y_ref`` (k = 1 if the model's change were the tank's) and the drift c; every
   target's best frame, the joint best (the device's ``[image] label_frame``) with the gain k
   there, and each target's frame fitted on the other three.
2. **Scores.** ``baseline``, ``gn`` and the shipped model on every (target, level), labelled at
   frame 1, at the joint frame, and at each target's leave-one-target-out frame (the frame
   fitted without that target: the honest estimate of what the fit gives a target it has not
   seen). The frame is fitted to the data's misfit, never to the score.

``--electrodes calibrated``: the same fit with every electrode's contact impedance, centre and
width fitted to ``ref.mat`` first (whether the electrodes explain the gain).

``--quick``: targets 1 and 2 at level 7, a coarse mesh, four scales, GN with 2 iterations.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks._timing import print_table
from benchmarks.studies.ktc import LEVELS
from benchmarks.studies.ktc_real import TARGETS, case_path, read_truth, truth_folder
from invtools.devices.ktc2023.score import ktc_score
from invtools.devices.label_frame import best_scale, frame_labels, frame_misfit

METHODS = {"baseline": "baseline", "gn": "gn", "shipped": "model"}


def measured_changes(folder: Path, targets) -> dict:
    """Every target's measured change (T, m) and reference (T, m) of its level-1 file at the
    nominal current, and the patterns (currents, measurement)."""
    from invtools.devices import load_description, read_device_file
    from invtools.devices.ktc2023.adapter import at_nominal_current
    from invtools.devices.model import device_model

    desc = load_description("ktc2023")
    model = device_model(desc)
    data = [at_nominal_current(read_device_file(desc, case_path(folder, t, 1)), model) for t in targets]
    y, ref = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    return {"change": y - ref, "reference": ref, "currents": data[0][2], "measurement": data[0][3]}


def calibrated_operator(d: dict, mesh_size: float, edge_levels: int, quick: bool = False):
    """The tank's operator with every electrode's contact impedance, centre and width fitted to
    ``ref.mat`` (:func:`forward_models.eit.calibration.calibrate`, as ``calibrate_tank`` does;
    ``quick``: a coarse calibration mesh and 3 iterations), and the fit's summary."""
    from forward_models.eit import CEMForward
    from forward_models.eit import ktc2023 as tank
    from forward_models.eit.calibration import calibrate
    from forward_models.eit.electrodes import Electrodes

    R, L = tank.KTC_RADIUS, d["currents"].shape[1]
    nominal = Electrodes.equally_spaced(L, 0.5, tank.KTC_CONTACT_IMPEDANCE, offset=tank.KTC_FIRST_ELECTRODE)
    cal = calibrate(d["reference"][0], d["currents"], d["measurement"], nominal, R,
                    mesh_size=R / (12 if quick else 40), edge_levels=0 if quick else 2,
                    max_iter=3 if quick else 30)
    op = CEMForward.on_disk(cal.electrodes, mesh_size, R, d["currents"], d["measurement"],
                            edge_levels=edge_levels)
    return op, cal.summary()


def fit(folder: Path, targets, scales, mesh_size: float, edge_levels: int,
        electrodes: str = "nominal", quick: bool = False) -> dict:
    """Misfit curves (T, S), the gain and drift at frame 1, the joint and leave-one-out frames;
    ``electrodes``: the nominal description's, or ``calibrated`` to ``ref.mat``."""
    import torch

    from forward_models.eit import ktc2023 as tank
    from invtools.devices.label_frame import truth_conductivity

    d = measured_changes(folder, targets)
    calibration = None
    if electrodes == "calibrated":
        op, calibration = calibrated_operator(d, mesh_size, edge_levels, quick)
    else:
        op = tank.ktc_operator(d["currents"], d["measurement"], mesh_size=mesh_size, edge_levels=edge_levels)
    sigma0 = tank.best_homogeneous(op, d["reference"][0])
    points = op.mesh.p[:, op.mesh.t].mean(axis=1)
    truths = [read_truth(folder, t) for t in targets]
    misfit = frame_misfit(op, points, tank.KTC_RADIUS, truths, d["change"], d["reference"], sigma0, scales)
    joint = best_scale(scales, misfit)
    with torch.no_grad():
        water = op(torch.full((1, op.n_in), sigma0, dtype=torch.float64))[0].numpy()

    def gain_and_drift(scale: float) -> list[list[float]]:
        """Per target (k, c) of the least-squares fit ``dy = k dm + c y_ref`` at ``scale``."""
        out = []
        for truth, dy, ref in zip(truths, d["change"], d["reference"], strict=True):
            sigma = truth_conductivity(truth, points, tank.KTC_RADIUS, scale, sigma0)
            with torch.no_grad():
                dm = op(torch.as_tensor(sigma[None]))[0].numpy() - water
            (k, c), *_ = np.linalg.lstsq(np.stack([dm, ref], axis=1), dy, rcond=None)
            out.append([float(k), float(c)])
        return out

    return {"targets": list(targets), "scales": [float(s) for s in scales], "misfit": misfit.tolist(),
            "sigma0": sigma0, "mesh": [mesh_size, edge_levels], "gain_drift_at_1": gain_and_drift(1.0),
            "gain_drift_at_joint": gain_and_drift(joint), "joint": joint,
            "electrodes": electrodes, "calibration": calibration,
            "leave_one_out": [best_scale(scales, misfit, leave_out=i) for i in range(len(targets))]}


def score_cases(folder: Path, targets, levels, frames: dict, gn_iterations: int) -> dict:
    """method -> frame name -> [target][level] score, labels made at frame 1 and resampled."""
    from invtools.classical import ClassicalConfig
    from invtools.workflow.reconstruct import reconstruct
    from invtools.workflow.reconstruct.result import label_images

    out: dict = {m: {f: [[0.0] * len(levels) for _ in targets] for f in frames} for m in METHODS}
    for i, target in enumerate(targets):
        truth = read_truth(folder, target)
        for j, level in enumerate(levels):
            for name, method in METHODS.items():
                rec = reconstruct(case_path(folder, target, level),
                                  model="ktc2023" if method == "model" else None, method=method,
                                  classical=ClassicalConfig(iterations=gn_iterations))
                at_one = label_images(dataclasses.replace(rec, label_frame=1.0))[0]
                for frame, scale in frames.items():
                    s = scale[i] if isinstance(scale, list) else scale
                    out[name][frame][i][j] = ktc_score(truth, frame_labels(at_one, s))
            print(f"target {target} level {level} scored", file=sys.stderr, flush=True)
    return out


def report(results: dict) -> None:
    f = results["fit"]
    scales, misfit = np.asarray(f["scales"]), np.asarray(f["misfit"])
    one, joint = (int(np.argmin(np.abs(scales - v))) for v in (1.0, f["joint"]))
    print(f"KTC2023 label frame: measured change against the truths on the {f['mesh'][0] * 1e3:.0f} mm "
          f"mesh ({f['mesh'][1]} edge levels), {f.get('electrodes', 'nominal')} electrodes, water "
          f"{f['sigma0']:.4f} S/m, scales {scales[0]:.3f}-{scales[-1]:.3f}")
    if f.get("calibration"):
        c = f["calibration"]
        print(f"electrodes calibrated to ref.mat: residual {c['residual_before']:.2%} -> "
              f"{c['residual_after']:.2%}, z {c['z_min']:.2g}..{c['z_max']:.2g}, largest shift "
              f"{c['max_shift_mm']:.2f} mm, width change {c['max_width_change_mm']:.2f} mm")
    rows = []
    for i, t in enumerate(f["targets"]):
        k, c = f["gain_drift_at_1"][i]
        best = int(np.argmin(misfit[i]))
        k_joint = f["gain_drift_at_joint"][i][0] if "gain_drift_at_joint" in f else float("nan")
        rows.append([f"target {t}", f"{k:.2f}", f"{c:+.4f}", f"{misfit[i, one]:.3f}",
                     f"{scales[best]:.3f}", f"{misfit[i, best]:.3f}", f"{misfit[i, joint]:.3f}",
                     f"{k_joint:.2f}", f"{f['leave_one_out'][i]:.3f}"])
    print_table(["target", "gain k at frame 1", "drift c", "misfit at frame 1", "best frame",
                 "its misfit", "misfit at the joint frame", "gain k there", "frame fitted on the others"],
                rows)
    print(f"joint frame (least summed squared misfit): {f['joint']:.3f}")
    if "scores" not in results:
        return
    levels = results["levels"]
    print("\nscores, summed over the targets, per level; LOTO: each target at the frame fitted without it")
    rows = []
    for method, frames in results["scores"].items():
        for frame, per_target in frames.items():
            v = np.asarray(per_target).sum(axis=0)
            rows.append([method, frame, *(f"{x:.2f}" for x in v), f"{v.sum():.2f}"])
    print_table(["method", "frame", *(f"L{v}" for v in levels), "total"], rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ktc", help="the KTC2023 folder (default: $INVTOOLS_KTC2023 or ../shared/ktc2023)")
    p.add_argument("--scales", type=float, nargs=3, default=[0.95, 1.20, 0.005],
                   metavar=("FROM", "TO", "STEP"))
    p.add_argument("--electrodes", choices=["nominal", "calibrated"], default="nominal",
                   help="calibrated: every electrode's impedance, centre and width fitted to ref.mat")
    p.add_argument("--no-scores", action="store_true", help="fit the frame only")
    p.add_argument("--gn-iterations", type=int, default=10)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--from-json", help="print the tables of an earlier --json")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.from_json:
        report(json.loads(Path(args.from_json).read_text()))
        return
    folder = truth_folder(args.ktc)
    from forward_models.eit.ktc2023 import KTC_ACCURATE_MESH

    lo, hi, step = args.scales
    scales = np.round(np.arange(lo, hi + step / 2, step), 6)
    targets, levels, mesh = TARGETS, LEVELS, KTC_ACCURATE_MESH
    if args.quick:
        targets, levels, mesh, args.gn_iterations = (1, 2), (7,), (0.01, 0), 2
        scales = np.array([1.0, 1.03, 1.06, 1.09])
    results: dict = {"fit": fit(folder, targets, scales, *mesh, args.electrodes, args.quick),
                     "levels": list(levels)}
    if not args.no_scores:
        frames = {"1": 1.0, "joint": results["fit"]["joint"], "LOTO": results["fit"]["leave_one_out"]}
        results["scores"] = score_cases(folder, targets, levels, frames, args.gn_iterations)
    if args.json:
        from invtools.support.atomic import write_bytes_atomic

        write_bytes_atomic(args.json, json.dumps(results).encode())
    report(results)


if __name__ == "__main__":
    main()
