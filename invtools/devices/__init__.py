"""Any EIT device described by one TOML file: its domain, electrodes, patterns, file layout,
reference file, image grid and segmentation classes (:mod:`~invtools.devices.description`); a
reader driven by the description (:mod:`~invtools.devices.reader`); the device's physics from the
plug-in it names (:mod:`~invtools.devices.model`, entry-point group ``invtools.devices``); and
calibration, difference or absolute imaging and three-class segmentation
(:mod:`~invtools.devices.reconstruct`). Shipped descriptions: ``ktc2023`` and ``kit4``.
"""

from invtools.devices.description import (
    DescriptionError,
    DeviceDescription,
    description_text,
    load_description,
    parse_description,
    shipped_devices,
)
from invtools.devices.reader import read_device_file

__all__ = ["DescriptionError", "DeviceDescription", "description_text", "load_description",
           "parse_description", "read_device_file", "shipped_devices"]
