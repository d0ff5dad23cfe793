"""``invtools reconstruct``: images from a measurement file, by a trained model or by the
classical solver (Gauss-Newton, or one linearised step).

A device's files (``--device``, or a ``.mat`` file that a shipped description fits,
:func:`~invtools.devices.adapter.find_device`) go through the adapter the description names
(:mod:`invtools.devices.adapter`): it reads the file and images it, once. Other files
(HDF5 data sets, NPZ, CSV, MATLAB ``y``) are read by :mod:`invtools.data.readers` and imaged by
:mod:`~invtools.workflow.reconstruct.plain` (files that carry a forward model, or are given one
by the model or ``--recipe``). Data that do not fit the model (measurement count, electrode
count, patterns) are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invtools.classical import ClassicalConfig
from invtools.data.readers import read_measurements
from invtools.training.trained_model import TrainedModel, load_model
from invtools.workflow.reconstruct import plain
from invtools.workflow.reconstruct.result import Reconstruction, write_reconstruction

if TYPE_CHECKING:
    from invtools.devices.description import DeviceDescription

METHODS = ("model", "gn", "linearized")  # of plain files; a device adapter lists its own

__all__ = ["METHODS", "Reconstruction", "reconstruct", "write_reconstruction"]


def reconstruct(measurements: str | Path, model: str | Path | TrainedModel | None = None,
                method: str | None = None,
                recipe: str | None = None, reference: str | Path | None = None,
                classical: ClassicalConfig | None = None, mesh_h: float | None = None,
                batch_size: int = 64, absolute: bool = False,
                device: str | Path | DeviceDescription | None = None) -> Reconstruction:
    """Read ``measurements`` and reconstruct with ``model`` (a checkpoint, a shipped model's name
    or a loaded :class:`~invtools.training.TrainedModel`) or the classical ``method``;
    ``absolute``: a device's data imaged without the reference (``gn`` only); ``device``: a
    described device (a shipped name, a TOML file or a loaded description,
    :mod:`invtools.devices`) whose files these are (default: the shipped description the file
    fits, if any)."""
    method = method or ("model" if model is not None else "gn")
    if method == "model" and model is None:
        raise ValueError("--method model needs --model CKPT")
    trained = None
    if model is not None and method == "model":
        trained = model if isinstance(model, TrainedModel) else load_model(model)
    from invtools.devices.adapter import find_device, load_adapter
    from invtools.devices.description import load_description

    desc = load_description(device) if device is not None else find_device(measurements)
    if desc is not None:
        if recipe is not None:
            raise ValueError(f"--recipe is for files without a device; {desc.name} files are imaged by "
                             "their device's model")
        adapter = load_adapter(desc)
        if method not in adapter.methods:
            raise ValueError(f"the {desc.name} device images with --method {' or '.join(adapter.methods)}, "
                             f"not {method!r}")
        meas = adapter.read(measurements, reference)
        return adapter.reconstruct(meas, method, trained, classical, absolute, mesh_h)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} for {Path(measurements).name}; choose one of {METHODS} "
                         "(a device's files: --device NAME|TOML)")
    if absolute:
        raise ValueError("--absolute is for a device's files (--device); other files are imaged "
                         "absolutely by --method gn already")
    meas = read_measurements(measurements)
    ccfg = classical or ClassicalConfig()
    ccfg = ClassicalConfig(**{**ccfg.__dict__, "method": "linearized" if method == "linearized" else "gn"})
    return plain.reconstruct_plain(meas, method, trained, ccfg, recipe, batch_size)
