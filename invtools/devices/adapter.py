"""The device-adapter interface: how ``invtools reconstruct`` reads and images the files of any
EIT device, through one object found by name.

A description names its adapter in ``[device] adapter`` (default ``"described"``); a package
registers adapters in the entry-point group ``invtools.device_adapters``::

    [project.entry-points."invtools.device_adapters"]
    described = "invtools.devices.reconstruct:DescribedDevice"
    my_tank = "my_package.my_tank:MyTankDevice"

The entry point is a class (or factory) called with the checked
:class:`~invtools.devices.description.DeviceDescription`; the object has the members of
:class:`DeviceAdapter`. invtools ships ``described`` (everything from the description and its
model plug-in, :class:`~invtools.devices.reconstruct.DescribedDevice`) and ``ktc2023``
(:class:`~invtools.devices.ktc2023.adapter.KTC2023Device`).

:func:`find_device` says which shipped description a measurement file belongs to when no
device is given: the one whose ``[file]`` (or ``[reference]``) variables the file holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from invtools.devices.description import (
    DescriptionError,
    DeviceDescription,
    load_description,
    shipped_devices,
)

if TYPE_CHECKING:
    from invtools.classical import ClassicalConfig
    from invtools.data.readers import Measurements
    from invtools.training.trained_model import TrainedModel
    from invtools.workflow.reconstruct.result import Reconstruction

ADAPTERS = "invtools.device_adapters"


class DeviceAdapter(Protocol):
    """Reads and images the measurement files of one described device.

    ``methods``: the ``--method`` names it images with (``"model"`` among them when a trained
    network can image its files)."""

    methods: tuple[str, ...]

    def __init__(self, desc: DeviceDescription) -> None:
        """An adapter for the checked description ``desc``."""
        ...

    def read(self, path: str | Path, reference: str | Path | None = None) -> Measurements:
        """The file at ``path`` with its reference data (``reference``, default: the
        description's ``[reference] file`` beside ``path``): ``y`` (1, m) with 0 where a value
        is missing, ``mask`` (m,) True where kept (None: all), ``reference`` (m,), ``extra``
        with ``currents`` (P, L) and ``measurement`` (k, L)."""
        ...

    def reconstruct(self, meas: Measurements, method: str = "gn", trained: TrainedModel | None = None,
                    classical: ClassicalConfig | None = None, absolute: bool = False,
                    mesh_size: float | None = None) -> Reconstruction:
        """Images (1, N, N) in S/m of ``meas`` (from :meth:`read`) by ``method`` (one of
        ``methods``; ``trained`` for ``"model"``): difference imaging against the reference, or
        ``absolute``; ``classical`` overrides the solver settings, ``mesh_size`` (m) the image
        model's physics mesh."""
        ...

    def segment(self, x: np.ndarray, sigma0: float, n: int | None = None) -> np.ndarray:
        """Three-class labels (B, n, n) of images x (B, N, N) (rows growing with y) in the
        device's frame, at n x n pixels (default: the images' own grid)."""
        ...


def load_adapter(desc: DeviceDescription) -> DeviceAdapter:
    """The adapter ``desc`` names (``[device] adapter``), built for ``desc``."""
    from invtools.operators import plugins

    try:
        factory = plugins.load(ADAPTERS, desc["device"]["adapter"])
    except ValueError as err:
        raise DescriptionError(f"{desc.source or desc.name}: [device] adapter: {err}") from None
    return factory(desc)


def file_variables(desc: DeviceDescription) -> tuple[set[str], set[str]]:
    """The variables a measurement file of ``desc`` holds, and those of its reference file."""
    f, r = desc["file"], desc["reference"]
    patterns = {f["measurements"]} - {None}
    data = {f["voltages"], f["currents"]} - {None} | patterns
    ref = {r["voltages"] or f["voltages"], r["currents"] or f["currents"]} - {None} | patterns
    return data, ref


def find_device(path: str | Path) -> DeviceDescription | None:
    """The shipped description whose ``[file]`` variables (or ``[reference]`` variables) a
    ``.mat`` file holds all of; None for other files or when none matches. A file that two
    descriptions fit is refused (:class:`DescriptionError`: pass the device)."""
    path = Path(path)
    if path.suffix.lower() != ".mat" or not path.is_file():
        return None
    import scipy.io

    try:
        names = {entry[0] for entry in scipy.io.whosmat(path)}
    except Exception:  # noqa: BLE001 (the reader reports an unreadable file)
        return None
    fits = []
    for name in shipped_devices():
        desc = load_description(name)
        data, ref = file_variables(desc)
        if data <= names or ref <= names:
            fits.append(desc)
    if len(fits) > 1:
        raise DescriptionError(f"{path}: fits the devices {[d.name for d in fits]}; pass --device NAME or "
                               "a description TOML")
    return fits[0] if fits else None
