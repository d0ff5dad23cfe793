"""The KTC2023 tank as a described device (``invtools/devices/ktc2023.toml``) gives what the
tank's own adapter gives: the same water conductivity and, pixel for pixel, the same labels."""

import numpy as np
import pytest

from invtools.devices.reconstruct import reconstruct_device
from invtools.workflow.reconstruct import reconstruct
from invtools.workflow.reconstruct.result import label_images


def test_ktc2023_by_its_description_matches_the_tank_adapter(ktc):
    described = reconstruct_device("ktc2023", ktc / "data1.mat")
    tank = reconstruct(ktc / "data1.mat", method="gn")
    # the adapter scales every injection to the nominal current; the description keeps the file's
    assert described.sigma0 == pytest.approx(tank.sigma0, rel=5e-3)
    assert described.device == "ktc2023" and described.contact_impedance == 1e-6
    same = float(np.mean(described.label_images == label_images(tank)))
    assert same > 0.99, same  # 0.998 on data1.mat
    assert {1, 2} <= set(np.unique(described.label_images))  # data1 holds both kinds
