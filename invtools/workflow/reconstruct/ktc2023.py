"""Adapter for the KTC2023 water tank (``.mat`` files with ``Uel``, ``Inj``, ``Mpat`` and a
``ref.mat`` beside them): difference imaging on the tank model that the ``ktc2023`` tank plug-in
provides (:mod:`invtools.operators.plugins`), or with a model trained on that tank's patterns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.data.h5file import DataFileError
from invtools.data.missing_data import level_of_mask
from invtools.data.readers import Measurements
from invtools.operators import Operator
from invtools.operators.composition import ComposedOperator, LinearOperator
from invtools.operators.parametrization import net_operator
from invtools.training.trained_model import TrainedModel
from invtools.workflow.reconstruct.result import Reconstruction, check_width
from invtools.workflow.reconstruct.tank_checks import check_tank_data, image_warnings

Tensor = torch.Tensor

# prior weights (Laplacian prior) of the tank's classical methods, chosen by the mean challenge
# score on 60 simulated tank samples of a training seed (benchmarks/studies/ktc.py --calibrate 60)
KTC_LINEARIZED_LAM = 1e-5  # conductivity (S/m), segmented by Otsu
KTC_LOG_LAM = 1e-5  # log-conductivity, segmented by levels
KTC_LOG_STEP_CLIP = 6.0  # GN's start changes no pixel's log-conductivity by more (the preset's [x0] clip)


def _weight(ccfg: ClassicalConfig, default: float) -> float:
    """The given prior weight, else the calibrated Laplacian ``default``; a TV prior's Hessian at
    the reference is the Laplacian over eps, so eps times the default gives it the same first step."""
    return ccfg.lam or default * (ccfg.tv_smoothing if ccfg.prior == "tv" else 1.0)


def accepts(meas: Measurements) -> bool:
    """Whether this adapter handles ``meas``: the file is in the KTC2023 layout (it carries
    the challenge's injection and measurement patterns, ``meas.ktc``)."""
    return meas.ktc is not None


def _same_patterns(op_cfg: dict[str, Any], ktc: dict[str, np.ndarray]) -> str | None:
    """Why a (CEM) operator config does not fit KTC patterns, or None if it does."""
    if op_cfg.get("type") == "PixelCEMForward":
        op_cfg = op_cfg["cem"]
    if op_cfg.get("type") != "CEMForward":
        return f"the model's forward operator is {op_cfg.get('type')}, not CEM EIT"
    currents = np.asarray(op_cfg["currents"])
    if currents.shape[1] != ktc["currents"].shape[1]:
        return f"the model has {currents.shape[1]} electrodes, the file {ktc['currents'].shape[1]}"
    if currents.shape != ktc["currents"].shape or not np.allclose(currents, ktc["currents"], rtol=1e-6):
        return "the model's injection patterns differ from the file's"
    if any(not np.array_equal(np.asarray(m), ktc["measurement"]) for m in op_cfg["measurements"]):
        return "the model's measurement patterns differ from the file's"
    return None


def _at_nominal_current(meas: Measurements, tank) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, y_ref, currents, measurement) with each injection's voltages rescaled to the tank's
    nominal current when the file drives the organisers' pairs (the CEM is linear in the
    current: the files' 1.41-1.51 become 1.47 for all), so that one model, trained on the
    nominal patterns, fits every file; other patterns are kept as they are."""
    currents, measurement = meas.ktc["currents"], meas.ktc["measurement"]
    nominal, _ = tank.ktc_patterns(tank.KTC_NOMINAL_CURRENT, currents.shape[1])
    if currents.shape != nominal.shape or not np.array_equal(np.sign(currents), np.sign(nominal)):
        return meas.y[0], meas.reference, currents, measurement
    scale = np.repeat(tank.KTC_NOMINAL_CURRENT / np.abs(currents).max(axis=1), measurement.shape[0])
    return meas.y[0] * scale, meas.reference * scale, nominal, measurement


def _masked(op: Operator, mask: np.ndarray | None) -> Operator:
    if mask is None:
        return op
    rows = np.nonzero(mask)[0]
    select = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, op.n_out))
    return ComposedOperator(LinearOperator(select, op.out_shape, (rows.size,)), op)


MIN_CLASSICAL_VALUES = 31  # one injection's differences: fewer leave a classical method nothing to fit


def _kept(meas: Measurements) -> np.ndarray:
    return np.ones(meas.y.shape[1], dtype=bool) if meas.mask is None else meas.mask


def _check_enough(meas: Measurements, method: str) -> None:
    keep = _kept(meas)
    if keep.sum() < MIN_CLASSICAL_VALUES:
        raise DataFileError(f"{meas.path}: keeps {int(keep.sum())} of {keep.size} values; --method "
                            f"{method} needs at least {MIN_CLASSICAL_VALUES}")


def reconstruct_ktc(meas: Measurements, method: str, trained: TrainedModel | None,
                    ccfg: ClassicalConfig, mesh_h: float | None = None) -> Reconstruction:
    """Difference imaging on the KTC2023 tank's image model (32 x 32 pixels over a 10 mm mesh,
    or the model's own operator), as the ``ktc2023`` preset simulates it, from the values the
    file keeps (NaN marks a missing one: any mask, the challenge's levels among them).

    The data are checked first (:mod:`invtools.workflow.reconstruct.tank_checks`): data no tank could
    produce are refused. sigma0: the water's conductivity, fitted to the kept reference data
    on the tank's accurate mesh. The data become ``y - y_ref + A(sigma0)``: the measured change
    on the image model's reference, so that what the models share (electrodes, tank, mesh
    error) cancels. ``linearized``: one regularised step in the conductivity; ``gn``:
    Gauss-Newton on log-conductivity from the one linearised step in log-conductivity (the
    objective never rises above that start's); ``model``: the network from its start, told the
    mask; ``baseline``: the organisers' own method (:mod:`invtools.classical.ktc_baseline`)."""
    from invtools.operators import plugins

    tank = plugins.load(plugins.TANKS, "ktc2023")
    if meas.reference is None:
        raise DataFileError(f"{meas.path}: difference imaging needs reference data (ref.mat)")
    if method == "baseline":
        return _baseline(meas, tank)
    y_meas, y_ref, currents, measurement = _at_nominal_current(meas, tank)
    keep = _kept(meas)
    if trained is not None:
        why = _same_patterns(trained.operator.config(), {"currents": currents, "measurement": measurement})
        if why is not None:
            raise DataFileError(f"{meas.path}: does not fit the model: {why}")
        trained.check_mask(keep, str(meas.path))
        op = trained.operator
    else:
        _check_enough(meas, method)
        op = tank.ktc_image_operator(currents, measurement, mesh_size=mesh_h or tank.KTC_IMAGE_MESH)
    checked = _checked(meas, op, y_meas, y_ref, currents, measurement)
    sigma0 = tank.accurate_sigma0(y_ref, currents, measurement, meas.mask)
    ones = torch.ones(1, *op.in_shape, dtype=torch.float64)
    with torch.no_grad():
        y = torch.as_tensor(y_meas - y_ref + op(sigma0 * ones)[0].numpy())[None]
    if method == "model":
        x = predict_difference(trained, torch.where(torch.as_tensor(keep), y, torch.nan), sigma0)
        made = {"labels": trained.labels(x), "label_images": refined_labels(trained, x, sigma0)}
    else:
        x, lam = classical_difference(_masked(op, meas.mask), y[:, keep], sigma0, method, ccfg)
        made = {"lam": lam}
    return Reconstruction(x=x, method=method, operator=op, parametrization="log", source=meas.path,
                          sigma0=sigma0, warnings=flag_nonphysical(x, meas.path), **checked, **made)


def refined_labels(trained: TrainedModel, x: np.ndarray, sigma0: float) -> np.ndarray | None:
    """The label images (B, 256, 256) a model with a label refiner makes of its images x
    (learned at 256 x 256), else None."""
    return None if trained.label_refiner is None else trained.label_refiner.labels(x, sigma0)


def _checked(meas: Measurements, op: Operator, y: np.ndarray, y_ref: np.ndarray, currents: np.ndarray,
             measurement: np.ndarray) -> dict[str, Any]:
    """Refuse data (m,) that no tank could produce (kept values, against the water model of
    ``op``, after :func:`check_width`); the reconstruction's ``missing``, ``mode`` and ``level``."""
    check_width(meas, op, "the tank model")
    keep = _kept(meas)
    with torch.no_grad():
        water = op(torch.ones(1, *op.in_shape, dtype=torch.float64))[0].numpy()
    check_tank_data(meas.path, y[keep], y_ref[keep], water[keep])
    return {"missing": int((~keep).sum()), "mode": "difference",
            "level": level_of_mask(currents, measurement, meas.mask)}


def flag_nonphysical(x: np.ndarray, path: Path) -> list[str]:
    """The non-physical values of images x (S/m), one line each (printed on stderr too)."""
    import sys

    lines = image_warnings(x)
    if lines:
        print(f"warning: {path}: the reconstruction has {'; '.join(lines)}", file=sys.stderr)
    return lines


def _baseline(meas: Measurements, tank) -> Reconstruction:
    """The organisers' baseline on the file's own patterns and currents, J at 1 S/m, labels by
    their Otsu2 at 256 x 256."""
    from invtools.classical.ktc_baseline import SIGMA0, organisers_baseline

    _check_enough(meas, "baseline")
    currents, measurement = meas.ktc["currents"], meas.ktc["measurement"]
    op = tank.ktc_image_operator(currents, measurement)
    checked = _checked(meas, op, meas.y[0], meas.reference, currents, measurement)
    sigma, labels = organisers_baseline(meas.y[0], meas.reference, meas.mask, op)
    return Reconstruction(x=sigma[None], method="baseline", operator=op, parametrization="identity",
                          source=meas.path, label_images=labels[None], sigma0=SIGMA0,
                          warnings=flag_nonphysical(sigma, meas.path), **checked)


def reconstruct_ktc_absolute(meas: Measurements, ccfg: ClassicalConfig) -> Reconstruction:
    """Absolute imaging of the tank: Gauss-Newton on log-conductivity for the measured voltages
    themselves (the reference only gives the start, sigma0), on 32 x 32 pixels over the
    accurate mesh (32k elements), whose homogeneous fit is within 1% of the converged one:
    without the reference to cancel model error, the coarse image mesh's 16% bias would show.
    About 25 s per file on 2 cores; the prior is centred at sigma0."""
    from invtools.operators import plugins

    tank = plugins.load(plugins.TANKS, "ktc2023")
    if meas.reference is None:
        raise DataFileError(f"{meas.path}: the start sigma0 is fitted to reference data (ref.mat)")
    y_meas, y_ref, currents, measurement = _at_nominal_current(meas, tank)
    h, levels = tank.KTC_ACCURATE_MESH
    op = tank.ktc_image_operator(currents, measurement, mesh_size=h, edge_levels=levels)
    check_width(meas, op, "the tank model")
    sigma0 = tank.accurate_sigma0(y_ref, currents, measurement, meas.mask)
    keep = _kept(meas)
    lam = _weight(ccfg, KTC_LOG_LAM)
    s0 = torch.full((1, *op.in_shape), float(np.log(sigma0)), dtype=torch.float64)
    y = torch.as_tensor(y_meas[keep])[None]
    s, infos = gauss_newton(net_operator(_masked(op, meas.mask), "log"), y, s0,
                            ClassicalConfig(**{**ccfg.__dict__, "method": "gn", "lam": lam}))
    return Reconstruction(x=torch.exp(s).numpy(), method="gn", operator=op, parametrization="log",
                          source=meas.path, sigma0=sigma0, mode="absolute", missing=int((~keep).sum()),
                          lam=lam, objective=infos[0].objective)


def classical_difference(op: Operator, y: Tensor, sigma0: float, method: str,
                         ccfg: ClassicalConfig | None = None) -> tuple[np.ndarray, float]:
    """Images (B, *in_shape), S/m, and the prior weight, for difference data
    ``y = y_meas - y_ref + A(sigma0)`` (B, m): ``linearized``, one regularised step in the
    conductivity from sigma0 (the organisers' baseline); ``gn``, Gauss-Newton on
    log-conductivity started from one linearised step in log-conductivity, with the prior
    centred at sigma0 (its objective never rises above that start's)."""
    ccfg = ccfg or ClassicalConfig()
    ones = torch.ones(y.shape[0], *op.in_shape, dtype=torch.float64)
    if method == "linearized":
        lam = _weight(ccfg, KTC_LINEARIZED_LAM)
        with torch.no_grad():
            dy = y - op(sigma0 * ones[:1])
        delta, _ = linearized_step(op, dy, sigma0 * ones, ClassicalConfig(**{**ccfg.__dict__, "lam": lam}))
        return (sigma0 + delta).numpy(), lam
    lam = _weight(ccfg, KTC_LOG_LAM)
    log_op, s0 = net_operator(op, "log"), torch.log(sigma0 * ones)
    with torch.no_grad():
        step, _ = linearized_step(log_op, y - log_op(s0[:1]), s0,
                                  ClassicalConfig(**{**ccfg.__dict__, "method": "linearized", "lam": lam}))
    gn = ClassicalConfig(**{**ccfg.__dict__, "method": "gn", "lam": lam})
    start = s0 + torch.clamp(step, -KTC_LOG_STEP_CLIP, KTC_LOG_STEP_CLIP)  # as the preset's x0
    s, _ = gauss_newton(log_op, y, start, gn, x_ref=s0)
    return torch.exp(s).numpy(), lam


def predict_difference(trained: TrainedModel, y: Tensor, sigma0: float) -> np.ndarray:
    """A trained tank model's images (B, *in_shape), S/m, for difference data y (B, m), from the
    start its training data used (the recipe's ``[x0]``) made around sigma0."""
    from invtools.data.recipes import initial_guess

    x0 = initial_guess(trained.net_operator, trained.parametrization,
                       {**trained.recipe["x0"], "value": sigma0}, 0.0, y.numpy())
    return trained.predict(y, x0).numpy()


def find_ktc_folder(start: str | Path | None = None) -> Path | None:
    """The KTC2023 measurements (``data1.mat`` ... and ``ref.mat``): ``$INVTOOLS_KTC2023``, else
    ``../shared/ktc2023`` from ``start`` (default: the working folder); None if absent."""
    import os

    for candidate in (os.environ.get("INVTOOLS_KTC2023"), Path(start or Path.cwd()).resolve().parent
                      / "shared" / "ktc2023"):
        if candidate and (Path(candidate) / "data1.mat").is_file():
            return Path(candidate)
    return None

