"""The KTC2023 tank's device adapter (entry point ``ktc2023`` of ``invtools.device_adapters``):
its files (``Uel``, ``Inj``, ``Mpat``, with ``ref.mat`` beside them) read by the description,
difference imaging on the tank model its model plug-in provides (``[device] model = "ktc2023"``,
a :class:`TankModel`), absolute imaging on the accurate mesh, a model trained on the tank's
nominal patterns, and the organisers' baseline (:mod:`invtools.devices.ktc2023.baseline`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from invtools.classical import ClassicalConfig, gauss_newton
from invtools.data.h5file import DataFileError
from invtools.data.missing_data import level_of_mask
from invtools.data.readers import Measurements
from invtools.devices.description import DeviceDescription, find_samples, load_description
from invtools.devices.imaging import (
    check_enough,
    difference_images,
    flag_nonphysical,
    image_fields,
    kept,
    masked,
    prior_weight,
)
from invtools.devices.model import DeviceModel, device_model
from invtools.devices.reconstruct import DescribedDevice
from invtools.operators import Operator
from invtools.operators.parametrization import net_operator
from invtools.training.trained_model import TrainedModel
from invtools.workflow.reconstruct.result import Reconstruction, check_width
from invtools.workflow.reconstruct.tank_checks import check_tank_data

Tensor = torch.Tensor

# prior weights (Laplacian prior) of the tank's classical methods, chosen by the mean challenge
# score on 60 simulated tank samples of a training seed (benchmarks/studies/ktc.py --calibrate 60)
KTC_LINEARIZED_LAM = 1e-5  # conductivity (S/m), segmented by Otsu
KTC_LOG_LAM = 1e-5  # log-conductivity, segmented by levels


class TankModel(DeviceModel, Protocol):
    """What the adapter needs of the tank's model plug-in besides
    :class:`~invtools.devices.model.DeviceModel`: ``nominal_current``, the current amplitude the
    shipped models are trained at (the files' unit), and the organisers' patterns at it."""

    nominal_current: float

    def nominal_patterns(self, L: int) -> tuple[np.ndarray, np.ndarray]:
        """Currents (P, L) at ``nominal_current`` and measurements (k, L): the organisers' patterns."""
        ...


def classical_difference(op: Operator, y: Tensor, sigma0: float, method: str,
                         ccfg: ClassicalConfig | None = None) -> tuple[np.ndarray, float]:
    """:func:`~invtools.devices.imaging.difference_images` with the tank's calibrated prior
    weights (:data:`KTC_LINEARIZED_LAM`, :data:`KTC_LOG_LAM`) unless ``ccfg`` gives one."""
    default = KTC_LINEARIZED_LAM if method == "linearized" else KTC_LOG_LAM
    return difference_images(op, y, sigma0, method, ccfg, default)


def _same_patterns(op_cfg: dict[str, Any], currents: np.ndarray, measurement: np.ndarray) -> str | None:
    """Why a (CEM) operator config does not fit the patterns, or None if it does."""
    if op_cfg.get("type") == "PixelCEMForward":
        op_cfg = op_cfg["cem"]
    if op_cfg.get("type") != "CEMForward":
        return f"the model's forward operator is {op_cfg.get('type')}, not CEM EIT"
    model_currents = np.asarray(op_cfg["currents"])
    if model_currents.shape[1] != currents.shape[1]:
        return f"the model has {model_currents.shape[1]} electrodes, the file {currents.shape[1]}"
    if model_currents.shape != currents.shape or not np.allclose(model_currents, currents, rtol=1e-6):
        return "the model's injection patterns differ from the file's"
    if any(not np.array_equal(np.asarray(m), measurement) for m in op_cfg["measurements"]):
        return "the model's measurement patterns differ from the file's"
    return None


def at_nominal_current(meas: Measurements, tank: TankModel
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, y_ref, currents, measurement) with each injection's voltages rescaled to the tank's
    nominal current when the file drives the organisers' pairs (the CEM is linear in the
    current: the files' 1.41-1.51 become 1.47 for all), so that one model, trained on the
    nominal patterns, fits every file; other patterns are kept as they are."""
    currents, measurement = meas.extra["currents"], meas.extra["measurement"]
    nominal, _ = tank.nominal_patterns(currents.shape[1])
    if currents.shape != nominal.shape or not np.array_equal(np.sign(currents), np.sign(nominal)):
        return meas.y[0], meas.reference, currents, measurement
    scale = np.repeat(tank.nominal_current / np.abs(currents).max(axis=1), measurement.shape[0])
    return meas.y[0] * scale, meas.reference * scale, nominal, measurement


def refined_labels(trained: TrainedModel, x: np.ndarray, sigma0: float) -> np.ndarray | None:
    """The label images (B, 256, 256) a model with a label refiner makes of its images x
    (learned at 256 x 256), else None."""
    return None if trained.label_refiner is None else trained.label_refiner.labels(x, sigma0)


def predict_difference(trained: TrainedModel, y: Tensor, sigma0: float) -> np.ndarray:
    """A trained tank model's images (B, *in_shape), S/m, for difference data y (B, m), from the
    start its training data used (the recipe's ``[x0]``) made around sigma0."""
    from invtools.data.recipes import initial_guess

    x0 = initial_guess(trained.net_operator, trained.parametrization,
                       {**trained.recipe["x0"], "value": sigma0}, 0.0, y.numpy())
    return trained.predict(y, x0).numpy()


def _checked(meas: Measurements, op: Operator, y: np.ndarray, y_ref: np.ndarray, currents: np.ndarray,
             measurement: np.ndarray) -> dict[str, Any]:
    """Refuse data (m,) that no tank could produce (kept values, against the water model of
    ``op``, after :func:`check_width`); the reconstruction's ``missing``, ``mode`` and ``level``."""
    check_width(meas, op, "the tank model")
    keep = kept(meas)
    with torch.no_grad():
        water = op(torch.ones(1, *op.in_shape, dtype=torch.float64))[0].numpy()
    check_tank_data(meas.path, y[keep], y_ref[keep], water[keep])
    return {"missing": int((~keep).sum()), "mode": "difference",
            "level": level_of_mask(currents, measurement, meas.mask)}


class KTC2023Device(DescribedDevice):
    """The tank's adapter (:class:`~invtools.devices.adapter.DeviceAdapter`) for its checked
    description ``desc``: files read and images segmented as any described device's
    (:class:`~invtools.devices.reconstruct.DescribedDevice`), imaged on the physics of the model
    plug-in ``desc`` names (a :class:`TankModel`), with the organisers' baseline."""

    methods = ("gn", "linearized", "baseline", "model")

    def __init__(self, desc: DeviceDescription):
        super().__init__(desc)
        self.tank: TankModel = device_model(desc)  # type: ignore[assignment]

    def reconstruct(self, meas: Measurements, method: str = "gn", trained: TrainedModel | None = None,
                    classical: ClassicalConfig | None = None, absolute: bool = False,
                    mesh_size: float | None = None) -> Reconstruction:
        """Difference imaging on the tank's image model (32 x 32 pixels over a 10 mm mesh, or
        the model's own operator), as the ``ktc2023`` preset simulates it, from the values the
        file keeps (NaN marks a missing one: any mask, the challenge's levels among them);
        ``absolute``: :meth:`absolute` (``gn`` only).

        The data are checked first (:mod:`invtools.workflow.reconstruct.tank_checks`): data no
        tank could produce are refused. sigma0: the water's conductivity, fitted to the kept
        reference data on the tank's accurate mesh. The data become ``y - y_ref + A(sigma0)``:
        the measured change on the image model's reference, so that what the models share
        (electrodes, tank, mesh error) cancels. ``linearized``: one regularised step in the
        conductivity; ``gn``: Gauss-Newton on log-conductivity from the one linearised step in
        log-conductivity (the objective never rises above that start's); ``model``: the network
        from its start, told the mask; ``baseline``: the organisers' own method
        (:mod:`invtools.devices.ktc2023.baseline`)."""
        ccfg = ClassicalConfig(**{**(classical or ClassicalConfig()).__dict__,
                                  "method": "linearized" if method == "linearized" else "gn"})
        if absolute:
            if method != "gn":
                raise ValueError("absolute imaging of the tank is --method gn")
            return self.absolute(meas, ccfg)
        if method == "baseline":
            return self.baseline(meas)
        y_meas, y_ref, currents, measurement = at_nominal_current(meas, self.tank)
        keep = kept(meas)
        if trained is not None:
            why = _same_patterns(trained.operator.config(), currents, measurement)
            if why is not None:
                raise DataFileError(f"{meas.path}: does not fit the model: {why}")
            trained.check_mask(keep, str(meas.path))
            op = trained.operator
        else:
            check_enough(meas, method)
            z = self.desc["electrodes"]["contact_impedance"]
            op = self.tank.image_operator(currents, measurement, z, mesh_size=mesh_size)
        checked = _checked(meas, op, y_meas, y_ref, currents, measurement)
        sigma0 = self.tank.calibrate(y_ref, currents, measurement, meas.mask).sigma0
        ones = torch.ones(1, *op.in_shape, dtype=torch.float64)
        with torch.no_grad():
            y = torch.as_tensor(y_meas - y_ref + op(sigma0 * ones)[0].numpy())[None]
        if method == "model":
            x = predict_difference(trained, torch.where(torch.as_tensor(keep), y, torch.nan), sigma0)
            made = {"labels": trained.labels(x), "label_images": refined_labels(trained, x, sigma0)}
        else:
            x, lam = classical_difference(masked(op, meas.mask), y[:, keep], sigma0, method, ccfg)
            made = {"lam": lam}
        return Reconstruction(x=x, method=method, operator=op, parametrization="log", source=meas.path,
                              sigma0=sigma0, warnings=flag_nonphysical(x, meas.path), **checked, **made,
                              **image_fields(self.desc))

    def baseline(self, meas: Measurements) -> Reconstruction:
        """The organisers' baseline on the file's own patterns and currents, J at 1 S/m, labels
        by their Otsu2 at 256 x 256."""
        from invtools.devices.ktc2023.baseline import SIGMA0, organisers_baseline

        check_enough(meas, "baseline")
        currents, measurement = meas.extra["currents"], meas.extra["measurement"]
        op = self.tank.image_operator(currents, measurement, self.desc["electrodes"]["contact_impedance"])
        checked = _checked(meas, op, meas.y[0], meas.reference, currents, measurement)
        sigma, labels = organisers_baseline(meas.y[0], meas.reference, meas.mask, op)
        return Reconstruction(x=sigma[None], method="baseline", operator=op, parametrization="identity",
                              source=meas.path, label_images=labels[None], sigma0=SIGMA0,
                              warnings=flag_nonphysical(sigma, meas.path), **checked,
                              **image_fields(self.desc))

    def absolute(self, meas: Measurements, ccfg: ClassicalConfig) -> Reconstruction:
        """Absolute imaging: Gauss-Newton on log-conductivity for the measured voltages
        themselves (the reference only gives the start, sigma0), on 32 x 32 pixels over the
        ``[calibration]`` (accurate) mesh (32k elements), whose homogeneous fit is within 1% of
        the converged one: without the reference to cancel model error, the coarse image mesh's
        16% bias would show. About 25 s per file on 2 cores; the prior is centred at sigma0."""
        y_meas, y_ref, currents, measurement = at_nominal_current(meas, self.tank)
        c, z = self.desc["calibration"], self.desc["electrodes"]["contact_impedance"]
        op = self.tank.image_operator(currents, measurement, z, mesh_size=c["mesh_size"],
                                      edge_levels=c["edge_levels"])
        check_width(meas, op, "the tank model")
        sigma0 = self.tank.calibrate(y_ref, currents, measurement, meas.mask).sigma0
        keep = kept(meas)
        lam = prior_weight(ccfg, KTC_LOG_LAM)
        s0 = torch.full((1, *op.in_shape), float(np.log(sigma0)), dtype=torch.float64)
        y = torch.as_tensor(y_meas[keep])[None]
        s, infos = gauss_newton(net_operator(masked(op, meas.mask), "log"), y, s0,
                                ClassicalConfig(**{**ccfg.__dict__, "method": "gn", "lam": lam}))
        return Reconstruction(x=torch.exp(s).numpy(), method="gn", operator=op, parametrization="log",
                              source=meas.path, sigma0=sigma0, mode="absolute", missing=int((~keep).sum()),
                              lam=lam, objective=infos[0].objective, **image_fields(self.desc))


def find_ktc_folder(start: str | Path | None = None) -> Path | None:
    """The tank's measurement files (``data1.mat`` ... and ``ref.mat``): the description's
    ``[samples]`` (:func:`~invtools.devices.description.find_samples`: ``$INVTOOLS_KTC2023``,
    else ``../shared/ktc2023`` from ``start``, default the working folder); None if absent."""
    return find_samples(load_description("ktc2023"), start)
