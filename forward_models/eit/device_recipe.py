"""Recipe ``[operator]`` kind ``device``: simulated data of any described 2-D EIT device
(:mod:`invtools.devices`), registered in the entry-point group ``invtools.recipe_operators``.

Keys: ``description`` (a shipped device name or a TOML file, relative to the recipe) and
``reference`` (the reference measurement file, relative to the recipe; may be empty when the
description's patterns are named). From the reference file: the current and measurement
patterns, the background conductivity sigma0 and contact impedance z (the device model's
``calibrate``), and the noise (per channel, from the patterns the file repeats,
:func:`~forward_models.eit.calibration.repeat_noise`). Without a reference: the named patterns,
sigma0 = 1 S/m, the description's contact impedance and ``fallback_noise``.

The unknowns are the conductivity relative to the background, x = sigma / sigma0 (so that
phantoms, x0 and networks do not depend on the saline of the day): the operator is the device's
CEM with currents I / sigma0 and contact impedance sigma0 z, exact since
U(sigma0 x; I, z) = U(x; I / sigma0, sigma0 z). Outputs are in the files' voltage unit.
``pixels = -1``: on the description's ``[image]`` grid over an ``h`` mesh; ``0``: on the mesh's
elements (what ``simulation_mesh_size`` simulates on). The operator carries ``noise_std``
(n_out,), the data noise (file unit) that :class:`invtools.data.recipes.Problem` adds to the
recipe's ``[noise]``: ``noise_scale`` times the repeat noise, or times ``fallback_noise`` x the
RMS of the reference voltages (of A(sigma0) without a reference) when no pattern repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtools.operators.plugins import RecipeOperator

DEFAULTS: dict[str, Any] = {"description": "", "reference": "", "h": 0.01, "pixels": -1, "radius": 1.0,
                            "difference": True, "edge_levels": 0, "simulation_mesh_size": 0.005,
                            "simulation_edge_levels": 2, "noise_scale": 1.0, "fallback_noise": 1e-3}


@dataclass(frozen=True)
class DeviceSetup:
    """What a device recipe takes from its description and reference file: ``currents`` (P, L)
    and ``measurement`` (k, L) as in the files, ``sigma0`` (S/m), ``contact_impedance`` (Ohm m^2),
    ``noise_std`` (P k,) in the files' voltage unit, ``noise_source`` (``"repeats"`` or
    ``"fallback"``)."""

    currents: np.ndarray
    measurement: np.ndarray
    sigma0: float
    contact_impedance: float
    noise_std: np.ndarray
    noise_source: str


_SETUPS: dict[tuple, DeviceSetup] = {}  # per (description, reference file and its state, noise keys)


def device_setup(cfg: dict[str, Any]) -> tuple[Any, Any, DeviceSetup]:
    """(description, device model, :class:`DeviceSetup`) of a checked ``[operator]`` table of
    kind ``device``; a bad key is a ``ValueError`` naming it."""
    from invtools.devices.description import load_description
    from invtools.devices.model import device_model

    if not cfg["description"]:
        raise ValueError("recipe [operator] type = \"device\" needs description = \"NAME or FILE.toml\"")
    try:
        desc = load_description(cfg["description"])
    except (OSError, ValueError) as err:
        raise ValueError(f"recipe [operator] description = {cfg['description']!r}: {err}") from None
    origin = desc.source or desc.name
    if desc["domain"]["shape"] != "circle":
        raise ValueError(f"recipe [operator] description: {origin} is an outline domain; device recipes "
                         "draw phantoms on a disk and need [domain] shape = \"circle\"")
    if abs(cfg["radius"] - desc["domain"]["radius"]) > 1e-12:
        raise ValueError(f"recipe [operator] radius = {cfg['radius']}: the description's domain radius is "
                         f"{desc['domain']['radius']} m (phantoms are drawn on that disk); set it")
    if cfg["pixels"] not in (-1, 0, desc["image"]["pixels"]):
        raise ValueError(f"recipe [operator] pixels = {cfg['pixels']}: -1 (the description's [image] "
                         f"pixels, {desc['image']['pixels']}) or 0 (the mesh); change [image] pixels in "
                         "the description for another grid")
    for key in ("noise_scale", "fallback_noise"):
        if not cfg[key] >= 0:
            raise ValueError(f"recipe [operator] {key} = {cfg[key]!r}: must be >= 0")
    model = device_model(desc)
    ref = Path(cfg["reference"]) if cfg["reference"] else None
    state = None if ref is None or not ref.is_file() else (ref.stat().st_mtime_ns, ref.stat().st_size)
    key = (repr(desc.tables), str(ref), state, cfg["noise_scale"], cfg["fallback_noise"])
    if key not in _SETUPS:
        _SETUPS[key] = _setup(desc, model, ref, cfg)
    elif ref is not None:  # each model object calibrated (cached by the model), so it keeps any fit
        model.calibrate(*_reference_data(desc, ref))
    return desc, model, _SETUPS[key]


def _reference_data(desc: Any, ref: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    from invtools.devices.reader import read_reference

    u, currents, measurement = read_reference(desc, ref)
    kept = np.isfinite(u)
    return np.where(kept, u, 0.0), currents, measurement, None if kept.all() else kept


def _setup(desc: Any, model: Any, ref: Path | None, cfg: dict[str, Any]) -> DeviceSetup:
    from forward_models.eit.calibration import repeat_noise

    if ref is None:
        from invtools.devices.reader import file_patterns

        pat = desc["patterns"]
        if "file" in (pat["currents"], pat["measurements"]):
            raise ValueError("recipe [operator] reference: the description reads its patterns from the "
                             "files; name the reference file (relative to the recipe)")
        z = desc["electrodes"]["contact_impedance"]
        if z == "fit":
            raise ValueError("recipe [operator] reference: the description fits the contact impedance; "
                             "name the reference file to fit it to")
        currents, measurement = file_patterns(desc, {}, Path("."))
        op = model.image_operator(currents, measurement, float(z), cfg["h"], cfg["edge_levels"])
        with torch.no_grad():
            u = op(torch.ones(1, *op.in_shape, dtype=torch.float64))[0].numpy()
        level = cfg["noise_scale"] * cfg["fallback_noise"] * float(np.sqrt(np.mean(u**2)))
        return DeviceSetup(currents, measurement, 1.0, float(z), np.full(u.size, level), "fallback")
    if not ref.is_file():
        raise ValueError(f"recipe [operator] reference = {str(ref)!r}: no such file (a path relative to "
                         "the recipe; a recipe with base = this one and its own reference points elsewhere)")
    u, currents, measurement, mask = _reference_data(desc, ref)
    cal = model.calibrate(u, currents, measurement, mask)
    k = measurement.shape[0]
    rep = repeat_noise(np.where(mask, u, np.nan) if mask is not None else u, currents, k)
    if rep is not None and np.all(np.isfinite(rep.channel_std)):
        std, source = np.tile(rep.channel_std, currents.shape[0]), "repeats"
    else:
        kept = u if mask is None else u[mask]
        std = np.full(u.size, cfg["fallback_noise"] * float(np.sqrt(np.mean(kept**2))))
        source = "fallback"
    return DeviceSetup(currents, measurement, float(cal.sigma0), float(cal.contact_impedance),
                       cfg["noise_scale"] * std, source)


def _device(cfg: dict[str, Any]):
    """The described device on its image grid (``pixels`` -1) or its mesh (0), in x = sigma / sigma0."""
    desc, model, s = device_setup(cfg)
    currents, z = s.currents / s.sigma0, s.contact_impedance * s.sigma0
    if cfg["pixels"] == 0:
        if not hasattr(model, "operator"):
            raise ValueError(f"recipe [operator] simulation_mesh_size: the {desc['device']['model']!r} "
                             "model has no mesh operator to simulate on; set simulation_mesh_size = 0")
        op = model.operator(currents, s.measurement, z, cfg["h"], cfg["edge_levels"])
        op.n_threads = 1  # generation workers are the parallelism
    else:
        op = model.image_operator(currents, s.measurement, z, cfg["h"], cfg["edge_levels"])
        if hasattr(op, "outer"):
            op.outer.n_threads = 1
    op.noise_std = s.noise_std
    return op


device = RecipeOperator(DEFAULTS, _device)
