"""``invtools reconstruct``: images from a measurement file, by a trained model or by the
classical solver (Gauss-Newton, or one linearised step).

The generic path: read the file (:mod:`invtools.data.readers`), load the model, hand the
data to the first adapter that accepts them, return a :class:`Reconstruction`. Adapters, one
small module each: :mod:`~invtools.workflow.reconstruct.ktc2023` (the KTC2023 tank, difference imaging
against ``ref.mat``) and :mod:`~invtools.workflow.reconstruct.plain` (files that carry a forward model,
or are given one by the model or ``--recipe``). Data that do not fit the model (measurement
count, electrode count, patterns) are refused.
"""

from __future__ import annotations

from pathlib import Path

from invtools.classical import ClassicalConfig
from invtools.data.readers import read_measurements
from invtools.training.trained_model import TrainedModel, load_model
from invtools.workflow.reconstruct import ktc2023, plain
from invtools.workflow.reconstruct.result import Reconstruction, write_reconstruction

METHODS = ("model", "gn", "linearized", "baseline")  # baseline: the KTC2023 organisers' (tank files)

__all__ = ["METHODS", "Reconstruction", "reconstruct", "write_reconstruction"]


def reconstruct(measurements: str | Path, model: str | Path | TrainedModel | None = None,
                method: str | None = None,
                recipe: str | None = None, reference: str | Path | None = None,
                classical: ClassicalConfig | None = None, mesh_h: float | None = None,
                batch_size: int = 64, absolute: bool = False,
                device: str | Path | None = None) -> Reconstruction:
    """Read ``measurements`` and reconstruct with ``model`` (a checkpoint, a shipped model's name
    or a loaded :class:`~invtools.training.TrainedModel`) or the classical ``method``;
    ``absolute``: tank data imaged without the reference (``gn`` only); ``device``: a described
    device (a shipped name or a TOML file, :mod:`invtools.devices`) whose files these are."""
    method = method or ("model" if model is not None else "gn")
    if device is not None:
        from invtools.devices.reconstruct import reconstruct_device

        if recipe is not None:
            raise ValueError("--device images with --method gn, linearized or a --model; --recipe is for "
                             "other files")
        trained = None
        if model is not None and method == "model":
            trained = model if isinstance(model, TrainedModel) else load_model(model)
        return reconstruct_device(device, measurements, reference, method, classical, absolute, mesh_h,
                                  trained=trained)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if method == "model" and model is None:
        raise ValueError("--method model needs --model CKPT")
    meas = read_measurements(measurements, reference)
    ccfg = classical or ClassicalConfig()
    ccfg = ClassicalConfig(**{**ccfg.__dict__, "method": "linearized" if method == "linearized" else "gn"})
    trained = None
    if model is not None and method == "model":
        trained = model if isinstance(model, TrainedModel) else load_model(model)
    if ktc2023.accepts(meas):
        if absolute:
            if method != "gn":
                raise ValueError("absolute imaging of the tank is --method gn")
            return ktc2023.reconstruct_ktc_absolute(meas, ccfg)
        return ktc2023.reconstruct_ktc(meas, method, trained, ccfg, mesh_h)
    if method == "baseline":
        raise ValueError("--method baseline is the KTC2023 organisers' method, for tank files")
    if absolute:
        raise ValueError("--absolute is for KTC2023 tank files; other files are imaged absolutely "
                         "by --method gn already")
    return plain.reconstruct_plain(meas, method, trained, ccfg, recipe, batch_size)
