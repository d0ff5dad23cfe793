"""The ``cem2d`` device model: electrodes where the description puts them (circle and outline),
and a calibration that recovers the conductivity and contact impedance it simulated with."""

import numpy as np
import pytest
import torch

from forward_models.eit.described import DescribedCEM
from invtools.devices import parse_description
from invtools.devices.reader import named_currents, named_measurements

BASE = """
[device]
name = "d"
[domain]
shape = "circle"
radius = 0.2
[electrodes]
count = 6
width = 0.03
first_angle = 90.0
direction = "clockwise"
contact_impedance = 0.005
[patterns]
currents = "adjacent"
measurements = "adjacent"
[file]
voltages = "V"
[reference]
file = "r.mat"
[calibration]
mesh_size = 0.02
[image]
mesh_size = 0.03
pixels = 8
[reconstruction]
prior_weight = 1e-3
"""


def test_circle_electrodes_follow_the_description():
    el = DescribedCEM(parse_description(BASE)).electrodes(0.005)
    np.testing.assert_allclose(np.rad2deg(el.centers), [90, 30, 330, 270, 210, 150])  # clockwise
    np.testing.assert_allclose(el.widths, 0.03 / 0.2)
    ccw = DescribedCEM(parse_description(BASE.replace('"clockwise"', '"counterclockwise"'))).electrodes(1.0)
    np.testing.assert_allclose(np.rad2deg(ccw.centers), [90, 150, 210, 270, 330, 30])


@pytest.mark.parametrize("z", [0.005, "fit"])
def test_calibration_recovers_what_it_simulated(z):
    desc = parse_description(BASE.replace("contact_impedance = 0.005", f"contact_impedance = {z!r}"
                                          .replace("'", '"')))
    model = DescribedCEM(desc)
    currents, meas = named_currents("adjacent", 6), named_measurements("adjacent", 6)
    op = model.operator(currents, meas, 0.005, 0.02)  # the calibration's own mesh: exact recovery
    with torch.no_grad():
        u = op(torch.full((1, op.n_in), 0.3, dtype=torch.float64))[0].numpy()
    cal = model.calibrate(u, currents, meas)
    assert cal.sigma0 == pytest.approx(0.3, rel=1e-3 if z == "fit" else 1e-6)
    assert cal.contact_impedance == pytest.approx(0.005, rel=0.05 if z == "fit" else 1e-12)
    assert cal.misfit < 1e-3


def test_outline_electrodes_start_in_the_first_angles_direction(tmp_path):
    pytest.importorskip("gmsh")
    t = np.linspace(0, 2 * np.pi, 80, endpoint=False)
    (tmp_path / "ellipse.csv").write_text("\n".join(f"{0.2 * np.cos(a)}, {0.1 * np.sin(a)}" for a in t))
    text = BASE.replace('shape = "circle"\nradius = 0.2', 'shape = "outline"\noutline = "ellipse.csv"')
    text = text.replace("pixels = 8", "pixels = 8\nextent = 0.2")
    (tmp_path / "d.toml").write_text(text)
    from invtools.devices import load_description

    model = DescribedCEM(load_description(tmp_path / "d.toml"))
    op = model.operator(named_currents("adjacent", 6), named_measurements("adjacent", 6), 0.005, 0.03)
    top = [f for f in op.facets[0]]
    centre = op.mesh.p[:, op.mesh.facets[:, top].ravel()].mean(axis=1)
    assert abs(centre[0]) < 0.02 and centre[1] > 0.09  # electrode 1 at the top of the ellipse
    second = op.mesh.p[:, op.mesh.facets[:, op.facets[1]].ravel()].mean(axis=1)
    assert second[0] > 0.05  # clockwise from the top: to the right


def test_full_calibration_fits_each_electrode_and_the_model_uses_them():
    pytest.importorskip("forward_models.eit.calibration")
    desc = parse_description(BASE.replace("[calibration]", '[calibration]\nmethod = "full"'))
    model = DescribedCEM(desc)
    currents, meas = named_currents("skip-1", 6), named_measurements("adjacent", 6)
    truth = DescribedCEM(parse_description(BASE.replace("width = 0.03", "width = 0.036")))
    op = truth.operator(currents, meas, 0.005, 0.01, 1)
    with torch.no_grad():
        u = op(torch.full((1, op.n_in), 0.3, dtype=torch.float64))[0].numpy()
    homogeneous = DescribedCEM(parse_description(BASE)).calibrate(u, currents, meas)
    cal = model.calibrate(u, currents, meas)
    assert cal.misfit < homogeneous.misfit and cal.sigma0 == pytest.approx(0.3, rel=0.05)
    assert cal.electrodes is not None and model.electrodes(1.0) is cal.electrodes
    np.testing.assert_allclose(model.operator(currents, meas, 1.0, 0.02).z, cal.electrodes.contact_impedance)
