"""The KTC2023 tank imaged by the generic ``described`` adapter with the generic ``cem2d`` model
(its description with those two names) gives what the tank's own adapter and model give: the
same water conductivity and, pixel for pixel, the same labels."""

import numpy as np
import pytest

from invtools.devices import description_text, find_device, load_description, parse_description
from invtools.workflow.reconstruct import reconstruct
from invtools.workflow.reconstruct.result import label_images


def test_ktc2023_by_the_described_adapter_matches_the_tank_adapter(ktc):
    shipped = load_description("ktc2023")
    assert shipped["device"]["adapter"] == "ktc2023" and shipped["device"]["model"] == "ktc2023"
    assert find_device(ktc / "data1.mat").name == "ktc2023"  # the file's variables tell its device
    text = description_text(shipped).replace('adapter = "ktc2023"', 'adapter = "described"')
    generic = parse_description(text.replace('model = "ktc2023"', 'model = "cem2d"'))
    described = reconstruct(ktc / "data1.mat", method="gn", device=generic)
    tank = reconstruct(ktc / "data1.mat", method="gn")
    # the tank's adapter scales every injection to the nominal current; the description keeps the file's
    assert described.sigma0 == pytest.approx(tank.sigma0, rel=5e-3)
    assert described.device == "ktc2023" and described.contact_impedance == 1e-6
    assert described.label_frame == tank.label_frame == 1.095  # the description's [image] label_frame
    same = float(np.mean(label_images(described) == label_images(tank)))
    assert same > 0.99, same  # 0.998 on data1.mat
    assert {1, 2} <= set(np.unique(label_images(described)))  # data1 holds both kinds
