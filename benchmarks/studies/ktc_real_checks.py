"""Model checks of the KTC2023 tank for :mod:`benchmarks.studies.ktc_real`: what the simulated
training data assume against what the real files show (the currents, the water's conductivity,
the contact impedance, the noise, the size of the measured change)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from benchmarks._timing import print_table


def model_checks(folder, records: list[dict], quick: bool = False) -> dict:
    """The checks' figures (JSON-ready). ``records``: the per-case records of ``ktc_real`` (their
    fitted sigma0 per level). ``quick``: 2 simulated samples, no contact-impedance fit."""
    from benchmarks.studies.ktc import complete_problem
    from forward_models.eit import ktc2023 as tank
    from invtools.devices import load_description, read_device_file

    meas = [read_device_file(load_description("ktc2023"), folder / f"data{t}.mat") for t in (1, 2, 3, 4)]
    currents, measurement = meas[0].extra["currents"], meas[0].extra["measurement"]
    ref = meas[0].reference
    amplitude = np.abs(currents).max(axis=1)
    h, levels = tank.KTC_ACCURATE_MESH

    def water_misfit(c: np.ndarray) -> tuple[float, float]:
        """(sigma0, relative misfit) of the best homogeneous fit to ref.mat with currents c."""
        op = tank.ktc_operator(c, measurement, mesh_size=h, edge_levels=levels)
        sigma0 = tank.best_homogeneous(op, ref)
        with torch.no_grad():
            u = op(torch.full((1, op.n_in), sigma0, dtype=torch.float64))[0].numpy()
        return sigma0, float(np.linalg.norm(u - ref) / np.linalg.norm(ref))

    nominal, _ = tank.ktc_patterns(tank.KTC_NOMINAL_CURRENT, currents.shape[1])
    out: dict = {
        "current_range": [float(amplitude.min()), float(amplitude.max())],
        "nominal_current": tank.KTC_NOMINAL_CURRENT,
        "same_currents_in_ref": all(np.array_equal(m.extra["currents"], currents) for m in meas),
        "water_fit_file_currents": water_misfit(currents),
        "water_fit_nominal_currents": water_misfit(nominal),
        "sigma0_per_level": {str(r["level"]): r["sigma0"] for r in records if r["method"] == "gn"},
        "noise_ref": tank.noise_from_repeats(ref),
        "noise_data": [tank.noise_from_repeats(m.y[0]) for m in meas],
        "real_change": [float(np.linalg.norm(m.y[0] - ref) / np.linalg.norm(ref)) for m in meas],
    }
    if not quick:
        z, sigma0, misfit = tank.fit_contact_impedance(ref, currents, measurement)
        out["contact_impedance_fit"] = [z, sigma0, misfit]
    problem = complete_problem()
    n = 2 if quick else 20
    y = problem.samples(np.arange(n), 2)["y"]
    water = problem.references()[1]
    change = np.linalg.norm(y - water, axis=1) / np.linalg.norm(water)
    out["sim"] = {"background": float(problem.recipe.phantom["background"]),
                  "contact_impedance": tank.KTC_CONTACT_IMPEDANCE,
                  "noise_absolute": float(problem.recipe.noise["absolute"]),
                  "change": [float(change.min()), float(np.median(change)), float(change.max())],
                  "samples": n}
    return out


def print_checks(c: dict) -> None:
    """The checks as one table: what the simulation assumes against what the real files show."""
    sim = c["sim"]
    fit_file, fit_nominal = c["water_fit_file_currents"], c["water_fit_nominal_currents"]
    sigma0 = c["sigma0_per_level"]
    noise = np.array(c["noise_data"])
    rows = [
        ["injected current (file unit)", f"{c['nominal_current']} for every injection (data rescaled to it)",
         f"{c['current_range'][0]:.3f}-{c['current_range'][1]:.3f} per injection; ref.mat's the same: "
         f"{c['same_currents_in_ref']}"],
        ["water fit to ref.mat (accurate mesh): relative misfit", "0 (its data are the model's)",
         f"{fit_file[1]:.4f} with the file's currents (sigma0 {fit_file[0]:.4f}); {fit_nominal[1]:.4f} "
         f"with {c['nominal_current']} for every injection (sigma0 {fit_nominal[0]:.4f})"],
        ["water conductivity (S/m)", f"{sim['background']}",
         "fitted to ref.mat's kept values: " + ", ".join(f"L{k} {v:.4f}" for k, v in sigma0.items())],
        ["contact impedance (Ohm m^2)", f"{sim['contact_impedance']:g}",
         ("fitted to ref.mat: z {:.2g}, sigma0 {:.4f}, misfit {:.4f}".format(*c["contact_impedance_fit"])
          if "contact_impedance_fit" in c else "not fitted (--quick)")],
        ["noise std (file unit), from repeated injections", f"{sim['noise_absolute']:g} absolute",
         f"ref.mat: {c['noise_ref'][1]:.2g} + {c['noise_ref'][0]:.2g} |u|; data1-4: {noise[:, 1].min():.2g}"
         f"-{noise[:, 1].max():.2g} + {noise[:, 0].min():.2g}-{noise[:, 0].max():.2g} |u|"],
        ["measured change, norm(y - y_ref) / norm(y_ref)",
         "{:.3f} / {:.3f} / {:.3f} (min / median / max, {} phantoms)".format(*sim["change"], sim["samples"]),
         "targets 1-4: " + ", ".join(f"{v:.3f}" for v in c["real_change"])],
    ]
    print("\nmodel checks: the simulated training data against the real files")
    print_table(["quantity", "simulated data (preset ktc2023)", "real files"], rows)


def gn_on_simulated(n: int, levels=(1, 4, 7)) -> dict:
    """Gauss-Newton as :mod:`benchmarks.studies.ktc` runs it on the first n simulated test
    phantoms (seed 2) per level: its start's and its end's score (levels), its steps, and its
    final residual over the noise floor (noise std x sqrt(values))."""
    from benchmarks.studies.ktc import complete_problem, labels_of, truth_labels
    from benchmarks.studies.ktc_real import recording_gn
    from invtools.data.missing_data import cem_patterns, level_mask
    from invtools.devices.ktc2023.adapter import classical_difference
    from invtools.devices.ktc2023.score import ktc_score

    problem = complete_problem()
    op, sigma0 = problem.op, float(problem.recipe.phantom["background"])
    noise = float(problem.recipe.noise["absolute"])
    y = problem.samples(np.arange(n), 2)["y"]
    truth = [truth_labels(problem, 2, i) for i in range(n)]
    currents, measurement = cem_patterns(op.config())
    out = {}
    for v in levels:
        y_nan = np.where(level_mask(currents, measurement, v), y, np.nan)
        rows = []
        for i in range(n):
            log: list[dict] = []
            with recording_gn(log):
                x = classical_difference(op, torch.as_tensor(y_nan[i:i + 1]), sigma0, "gn")[0]
            g = log[0]
            start, end = labels_of(np.concatenate([g["start"], x]), sigma0, "gn", op)
            rows.append({"start_score": ktc_score(truth[i], start), "score": ktc_score(truth[i], end),
                         "steps": len(g["objective"]) - 1,
                         "residual_over_noise": g["residual_end"] / (noise * np.sqrt(g["values"]))})
        out[str(v)] = rows
    return {"phantoms": n, "noise": noise, "levels": out}


def _spread(values: list[float]) -> str:
    return f"{np.median(values):.1f} ({np.min(values):.1f}-{np.max(values):.1f})"


def gn_summary(records: list[dict], noise: float | None, sim: dict | None) -> None:
    """GN's start against its end, real (every case) and simulated (``sim``, from
    :func:`gn_on_simulated`): mean scores, how often the iterations lower the score, steps at the
    cap, and the final residual over the noise floor."""
    rows = []
    real = [r for r in records if r["method"] == "gn"]
    if real:
        levels = sorted({r["level"] for r in real})
        for v in levels:
            rs = [r for r in real if r["level"] == v]
            ratio = ([r["gn"]["residual_end"] / (noise * np.sqrt(r["gn"]["values"])) for r in rs]
                     if noise else [np.nan])
            rows.append(["real", f"L{v}", len(rs), f"{np.mean([r['gn']['start_score'] for r in rs]):.3f}",
                         f"{np.mean([r['score'] for r in rs]):.3f}",
                         sum(r["score"] < r["gn"]["start_score"] for r in rs),
                         f"{np.median([len(r['gn']['objective']) - 1 for r in rs]):g}",
                         _spread(ratio) if noise else "-"])
    for v, rs in (sim or {}).get("levels", {}).items():
        ratio = [r["residual_over_noise"] for r in rs]
        rows.append(["simulated (seed 2)", f"L{v}", len(rs),
                     f"{np.mean([r['start_score'] for r in rs]):.3f}",
                     f"{np.mean([r['score'] for r in rs]):.3f}",
                     sum(r["score"] < r["start_score"] for r in rs),
                     f"{np.median([r['steps'] for r in rs]):g}", _spread(ratio)])
    if rows:
        print("\nGauss-Newton's start (one linearised log step) against its end, segmented by the same "
              "levels; residual / noise floor: norm of the final residual over noise std x sqrt(values) "
              "(real: the std from ref.mat's repeats; simulated: the preset's noise)")
        print_table(["data", "level", "cases", "start score", "end score", "end below start",
                     "median steps (cap 10)", "residual / noise floor: median (min-max)"], rows)


@contextlib.contextmanager
def one_current_for_all() -> Iterator[None]:
    """Within the block the tank's difference path takes every injection to have driven the
    nominal current (the voltages as measured, the nominal patterns) instead of rescaling each
    injection by the current its file records: what the per-injection rescaling changes."""
    from invtools.devices.ktc2023 import adapter

    original = adapter.at_nominal_current

    def as_nominal(meas, tank):
        nominal, _ = tank.nominal_patterns(meas.extra["currents"].shape[1])
        return meas.y[0], meas.reference, nominal, meas.extra["measurement"]

    adapter.at_nominal_current = as_nominal
    try:
        yield
    finally:
        adapter.at_nominal_current = original


def compare_runs(records: list[dict], other: list[dict], label: str) -> None:
    """Per method and level: mean real score of ``records`` minus that of ``other`` on the same
    cases, and in how many cases it is higher / lower."""
    before = {(r["target"], r["level"], r["method"]): r["score"] for r in other}
    rows, methods = [], list(dict.fromkeys(r["method"] for r in records))
    levels = sorted({r["level"] for r in records})
    for m in methods:
        cells, all_d, means = [], [], []
        for v in levels:
            d = [r["score"] - before[k] for r in records if r["method"] == m and r["level"] == v
                 and (k := (r["target"], r["level"], m)) in before]
            all_d += d
            means += [np.mean(d)] if d else []
            cells.append(f"{np.mean(d):+.3f}" if d else "-")
        if all_d:
            up, down = sum(x > 1e-9 for x in all_d), sum(x < -1e-9 for x in all_d)
            rows.append([m, *cells, f"{np.sum(means):+.3f}", f"{up} / {down} of {len(all_d)}"])
    print(f"\nthis run minus {label}: mean real score difference per level (same cases)")
    print_table(["method", *[f"L{v}" for v in levels], "total (sum of the levels)", "cases higher / lower"],
                rows)
