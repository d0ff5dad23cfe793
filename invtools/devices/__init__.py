"""Any EIT device described by one TOML file: its domain, electrodes, patterns, file layout,
reference file, image grid, segmentation classes and sample files
(:mod:`~invtools.devices.description`); a reader driven by the description
(:mod:`~invtools.devices.reader`); the device's physics from the plug-in it names
(:mod:`~invtools.devices.model`, entry-point group ``invtools.devices``); and the adapter that
reads and images its files (:mod:`~invtools.devices.adapter`, entry-point group
``invtools.device_adapters``): the generic ``described`` one
(:mod:`~invtools.devices.reconstruct`: calibration, difference or absolute imaging, three-class
segmentation) or a device's own (:mod:`invtools.devices.ktc2023`). Shipped descriptions:
``ktc2023`` and ``kit4``.
"""

from invtools.devices.adapter import DeviceAdapter, find_device, load_adapter
from invtools.devices.description import (
    DescriptionError,
    DeviceDescription,
    description_text,
    find_samples,
    load_description,
    parse_description,
    shipped_devices,
)
from invtools.devices.reader import read_device_file

__all__ = ["DescriptionError", "DeviceAdapter", "DeviceDescription", "description_text", "find_device",
           "find_samples", "load_adapter", "load_description", "parse_description", "read_device_file",
           "shipped_devices"]
