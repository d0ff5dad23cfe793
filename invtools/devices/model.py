"""The device-model interface: what a plug-in in the entry-point group ``invtools.devices``
provides, so that invtools images a described device without importing its physics.

A package registers a model by the name a description's ``[device] model`` gives::

    [project.entry-points."invtools.devices"]
    cem2d = "forward_models.eit.described:DescribedCEM"

The entry point is a class (or factory) called with the checked
:class:`~invtools.devices.description.DeviceDescription`; the object has the three methods of
:class:`DeviceModel`. invtools ships ``cem2d``: the 2-D complete electrode model on a disk or an
outline (``forward_models.eit.described``).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from invtools.devices.description import DescriptionError, DeviceDescription
from invtools.operators import Operator

DEVICES = "invtools.devices"


class DeviceModel(Protocol):
    """The physics of a described device (currents (P, L) and measurement (k, L) from its file;
    outputs P k voltages, injection-major; conductivities in S/m)."""

    def image_operator(self, currents: np.ndarray, measurement: np.ndarray, z: float,
                       mesh_size: float | None = None, edge_levels: int = 0) -> Operator:
        """The device on the description's N x N pixel image (row index growing with y), with
        contact impedance z; ``mesh_size``: the physics mesh (default: ``[image] mesh_size``)."""
        ...

    def calibrate(self, u_ref: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
                  mask: np.ndarray | None = None) -> Any:
        """The fit to the reference data u_ref (P k,): an object with ``sigma0`` (S/m),
        ``contact_impedance`` (Ohm m^2) and ``misfit`` (relative, kept values)."""
        ...


def device_model(desc: DeviceDescription) -> DeviceModel:
    """The model plug-in ``desc`` names (``[device] model``), built for ``desc``."""
    from invtools.operators import plugins

    try:
        factory = plugins.load(DEVICES, desc["device"]["model"])
    except ValueError as err:
        origin = desc.source or desc.name
        raise DescriptionError(f"{origin}: [device] model: {err}") from None
    return factory(desc)
