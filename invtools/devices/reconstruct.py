"""The ``described`` device adapter (:class:`DescribedDevice`, :mod:`invtools.devices.adapter`):
a device's files read by its description, its model built by the plug-in it names
(:mod:`invtools.devices.model`), calibrated on the reference file, imaged by Gauss-Newton
(difference or absolute) and segmented into three classes in the device's frame.

- **calibration**: background conductivity sigma0 and contact impedance z fitted to the
  reference data on the ``[calibration]`` mesh;
- **difference** (default): data ``y - y_ref + A(sigma0)`` on the ``[image]`` model (the measured
  change on the image model's reference, so that model error common to both cancels), then
  :func:`~invtools.devices.imaging.difference_images`: ``gn`` on
  log-conductivity (prior weight ``[reconstruction] prior_weight``, centred at sigma0) or one
  ``linearized`` step;
- **absolute**: ``gn`` on log-conductivity for the voltages themselves, from sigma0, on pixels over
  the calibration mesh (no reference to cancel model error);
- **segmentation**: ``[segmentation] rule`` ``levels`` (conductive where ``log(sigma / sigma0)`` >
  threshold, resistive below -threshold) or ``otsu`` (three-class Otsu on ``sigma - sigma0``;
  a flat image is all background); label images (``[image] label_pixels`` square) with row 0 at
  the top (``rows = "top-down"``) or bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from invtools.classical import ClassicalConfig, gauss_newton
from invtools.data.readers import Measurements
from invtools.devices.description import DeviceDescription
from invtools.devices.imaging import (
    difference_images,
    flag_nonphysical,
    image_fields,
    kept,
    masked,
    prior_weight,
)
from invtools.devices.model import device_model
from invtools.devices.reader import read_device_file
from invtools.operators.parametrization import net_operator
from invtools.training.trained_model import TrainedModel
from invtools.workflow.reconstruct.result import Reconstruction, check_width
from invtools.workflow.reconstruct.tank_checks import check_tank_data


@dataclass(kw_only=True)
class DeviceReconstruction(Reconstruction):
    """A :class:`~invtools.workflow.reconstruct.result.Reconstruction` of a described device, with
    ``device`` (its name), ``contact_impedance`` (Ohm m^2, fitted or given) and
    ``calibration_misfit`` (the homogeneous fit's relative misfit to the reference) recorded.
    ``labels``: (N, n, n) classes on the image grid (rows growing with y, as ``x``);
    ``label_images``: the same at ``[image] label_pixels``, rows as the device's, over the image's
    square (:func:`~invtools.workflow.reconstruct.result.label_images` resamples them to the
    device's ``[image] label_frame``)."""

    device: str = ""
    contact_impedance: float | None = None
    calibration_misfit: float | None = None

    INFO_FIELDS: ClassVar[tuple[str, ...]] = (*Reconstruction.INFO_FIELDS, "device", "contact_impedance",
                                              "calibration_misfit")


def segment_device(desc: DeviceDescription, x: np.ndarray, sigma0: float, n: int | None = None
                   ) -> np.ndarray:
    """Three-class labels (B, n, n) of images x (B, N, N) (rows growing with y) by the
    description's rule, sampled at n x n pixels (default: ``x``'s own grid) in the device frame
    (row 0 at the top for ``rows = "top-down"``); outside the inscribed disk: background."""
    from invtools.analysis.segmentation import grid_to_pixels, segment_levels, segment_three_classes

    seg = desc["segmentation"]
    x = np.asarray(x, dtype=np.float64)
    out = []
    for image in x:
        frame = grid_to_pixels(image, n or image.shape[-1])
        if seg["rule"] == "levels":
            labels = segment_levels(np.log(np.clip(frame, 1e-300, None) / sigma0), seg["threshold"])
        else:
            delta = frame - sigma0
            inside = delta[np.isfinite(delta)]
            flat = inside.size == 0 or np.ptp(inside) <= 1e-9 * max(abs(sigma0), 1e-300)
            labels = np.zeros(frame.shape, dtype=np.uint8) if flat else segment_three_classes(delta)
        out.append(labels if desc["image"]["rows"] == "top-down" else labels[::-1])
    return np.stack(out).astype(np.uint8)


class DescribedDevice:
    """The ``described`` adapter (:class:`~invtools.devices.adapter.DeviceAdapter`): everything
    from the description ``desc`` and the model plug-in it names."""

    methods = ("gn", "linearized", "model")

    def __init__(self, desc: DeviceDescription):
        self.desc = desc

    def read(self, path: str | Path, reference: str | Path | None = None) -> Measurements:
        """The file as the description says (:func:`~invtools.devices.reader.read_device_file`)."""
        return read_device_file(self.desc, path, reference)

    def segment(self, x: np.ndarray, sigma0: float, n: int | None = None) -> np.ndarray:
        """The description's three classes (:func:`segment_device`)."""
        return segment_device(self.desc, x, sigma0, n)

    def reconstruct(self, meas: Measurements, method: str = "gn", trained: TrainedModel | None = None,
                    classical: ClassicalConfig | None = None, absolute: bool = False,
                    mesh_size: float | None = None) -> DeviceReconstruction:
        """Difference imaging against the file's reference, or ``absolute`` (``gn`` only), by
        ``gn`` or ``linearized``; ``model``: the network ``trained`` on a recipe of
        ``[operator] type = "device"`` (:func:`predict_device`). ``mesh_size``: the image
        model's physics mesh (m; default ``[image] mesh_size``). Returns images x (1, N, N) in
        S/m, their labels, and the calibration."""
        desc = self.desc
        if method == "model":
            if absolute:
                raise ValueError("a --model images differences; --absolute is --method gn")
            return predict_device(desc, meas, trained)
        if absolute and method != "gn":
            raise ValueError("absolute imaging is --method gn")
        currents, measurement = meas.extra["currents"], meas.extra["measurement"]
        keep = kept(meas)
        model = device_model(desc)
        cal = model.calibrate(meas.reference, currents, measurement, meas.mask)
        z, sigma0 = cal.contact_impedance, cal.sigma0
        ccfg = classical or ClassicalConfig()
        lam = prior_weight(ccfg, desc["reconstruction"]["prior_weight"])
        iterations = desc["reconstruction"]["iterations"] if classical is None else ccfg.iterations
        ccfg = ClassicalConfig(**{**ccfg.__dict__, "lam": lam, "iterations": iterations})
        if absolute:
            c = desc["calibration"]
            op = model.image_operator(currents, measurement, z, mesh_size or c["mesh_size"], c["edge_levels"])
        else:
            op = model.image_operator(currents, measurement, z, mesh_size)
        check_width(meas, op, f"the {desc.name} model")
        ones = torch.ones(1, *op.in_shape, dtype=torch.float64)
        with torch.no_grad():
            homogeneous = op(sigma0 * ones)[0].numpy()
        check_tank_data(meas.path, meas.y[0][keep], meas.reference[keep], homogeneous[keep])
        if absolute:
            s0 = torch.log(sigma0 * ones)
            y = torch.as_tensor(meas.y[0][keep])[None]
            s, infos = gauss_newton(net_operator(masked(op, meas.mask), "log"), y, s0,
                                    ClassicalConfig(**{**ccfg.__dict__, "method": "gn"}))
            x, objective, mode = torch.exp(s).numpy(), infos[0].objective, "absolute"
        else:
            y = torch.as_tensor(meas.y[0] - meas.reference + homogeneous)[None]
            x, lam = difference_images(masked(op, meas.mask), y[:, keep], sigma0, method, ccfg, lam)
            objective, mode = None, "difference"
        grid = segment_device(desc, x, sigma0)  # on the image grid, rows as x's (growing with y):
        grid = grid[:, ::-1] if desc["image"]["rows"] == "top-down" else grid
        return DeviceReconstruction(
            x=x, method=method, operator=op, parametrization="log", source=meas.path, sigma0=sigma0,
            mode=mode, missing=int((~keep).sum()), lam=lam, objective=objective,
            labels=np.ascontiguousarray(grid),
            label_images=segment_device(desc, x, sigma0, desc["image"]["label_pixels"]),
            warnings=flag_nonphysical(x, meas.path), device=desc.name, contact_impedance=z,
            calibration_misfit=cal.misfit, **image_fields(desc))


def predict_device(desc: DeviceDescription, meas: Measurements, trained: TrainedModel
                   ) -> DeviceReconstruction:
    """A network's images of a device file: the model's operator (kind ``device``: conductivity
    relative to the training reference's sigma0, currents I / sigma0) gives sigma0 back as
    I_file / I_model; the data become ``y - y_ref + A(1)`` (NaN where missing), the network
    starts from the recipe's x0 made of the kept values, and its output times sigma0 is S/m."""
    from invtools.data.h5file import DataFileError
    from invtools.data.missing_data import cem_patterns

    kind = ((trained.recipe or {}).get("operator") or {}).get("type")
    if kind != "device":
        raise ValueError(f"{trained.path or 'the model'} was trained on [operator] type = {kind!r}; a "
                         "--device model needs a data set of type = \"device\" (docs/your-own-tank.md)")
    currents, measurement = meas.extra["currents"], meas.extra["measurement"]
    c_model, m_model = cem_patterns(trained.operator.config())
    same = (c_model.shape == currents.shape and len(m_model) == currents.shape[0]
            and all(m.shape == measurement.shape and np.allclose(m, measurement) for m in m_model))
    sigma0 = float(np.sum(currents**2) / np.sum(currents * c_model)) if same else 0.0
    if not (same and sigma0 > 0 and np.allclose(sigma0 * c_model, currents, rtol=1e-6,
                                                atol=1e-9 * np.abs(currents).max())):
        name = trained.path or "the model"
        raise DataFileError(f"{meas.path}: its patterns ({currents.shape[0]} currents x "
                            f"{measurement.shape[0]} measurements) are not those {name} was trained on")
    keep = kept(meas)
    trained.check_mask(keep, str(meas.path))
    op = trained.operator
    with torch.no_grad():
        y = meas.y[0] - meas.reference + op(torch.ones(1, *op.in_shape, dtype=torch.float64))[0].numpy()
    x = sigma0 * trained.predict(np.where(keep, y, np.nan)[None]).numpy()
    grid = segment_device(desc, x, sigma0)
    grid = grid[:, ::-1] if desc["image"]["rows"] == "top-down" else grid
    z = float(np.median(cem_config_impedance(op.config()))) / sigma0
    return DeviceReconstruction(
        x=x, method="model", operator=op, parametrization="log", source=meas.path, sigma0=sigma0,
        mode="difference", missing=int((~keep).sum()), labels=np.ascontiguousarray(grid),
        label_images=segment_device(desc, x, sigma0, desc["image"]["label_pixels"]),
        warnings=flag_nonphysical(x, meas.path), device=desc.name, contact_impedance=z, **image_fields(desc))


def cem_config_impedance(cfg: dict) -> np.ndarray:
    """The contact impedances of the CEM inside an operator config (through pixel images)."""
    while "contact_impedance" not in cfg:
        cfg = cfg.get("cem") or cfg.get("inner") or cfg.get("op") or {}
        if not cfg:
            return np.ones(1)
    return np.atleast_1d(np.asarray(cfg["contact_impedance"], dtype=np.float64))
