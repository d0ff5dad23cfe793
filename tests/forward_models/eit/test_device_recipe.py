"""Recipe ``[operator] type = "device"``: a simulated 8-electrode device written here (its
reference file made by its own model at 0.5 S/m, with repeated patterns and known noise) gives
data sets whose calibration, noise, data and seeds are what the recipe says."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from forward_models.eit.device_recipe import device_setup
from invtools.data.recipes import Problem, load_recipe
from invtools.devices import load_description
from invtools.devices.model import device_model
from invtools.devices.reader import named_measurements

SIGMA0, Z, NOISE = 0.5, 1e-3, 1e-4  # S/m, Ohm m^2, V per value (std)

DEVICE = """
[device]
name = "octo"
[domain]
shape = "circle"
radius = 0.1
[electrodes]
count = 8
width = 0.02
first_angle = 90.0
contact_impedance = CONTACT
[patterns]
currents = "CURRENTS"
measurements = "adjacent"
[file]
voltages = "V"
voltages_layout = "measurement-by-pattern"
currents = "I"
[reference]
file = "ref.mat"
[calibration]
mesh_size = 0.005
edge_levels = 1
[image]
pixels = 12
mesh_size = 0.02
[reconstruction]
prior_weight = 1e-4
"""

RECIPE = """
name = "octo"
parametrization = "log"
[operator]
type = "device"
description = "octo.toml"
REFERENCE
radius = 0.1
h = 0.02
simulation_mesh_size = SIM
simulation_edge_levels = 0
noise_scale = SCALE
[phantom]
type = "inclusions"
size = [0.015, 0.03]
background = 1.0
conductive = [5.0, 20.0]
resistive = [0.05, 0.2]
[noise]
relative = 0.0
[x0]
method = "linearized"
value = 1.0
lam = 1e-4
[mask]
type = "electrodes"
level_fraction = 0.0
dropout_fraction = 0.0
broken_fraction = 0.5
broken = [1, 1]
"""


def currents() -> np.ndarray:
    """(16, 8): the adjacent pairs (amplitude 2), then each again (repeats)."""
    idx = np.arange(8)
    adj = np.zeros((8, 8))
    adj[idx, idx], adj[idx, (idx + 1) % 8] = 2.0, -2.0
    return np.vstack([adj, adj])


def write_device(folder: Path, named: bool = False, sim: float = 0.01, scale: float = 1.0) -> Path:
    """The description, its reference file (simulated on a 5 mm mesh, noise NOISE per value)
    and a recipe in ``folder``; ``named``: adjacent patterns by name and no reference."""
    text = DEVICE.replace("CONTACT", str(Z)).replace("CURRENTS", "adjacent" if named else "file")
    (folder / "octo.toml").write_text(text)
    if not named:
        desc = load_description(folder / "octo.toml")
        op = device_model(desc).operator(currents(), named_measurements("adjacent", 8), Z, 0.005, 1)
        with torch.no_grad():
            u = op(torch.full((1, op.n_in), SIGMA0, dtype=torch.float64))[0].numpy()
        u = u + NOISE * np.random.default_rng(5).standard_normal(u.size)
        scipy.io.savemat(folder / "ref.mat", {"V": u.reshape(-1, 8).T, "I": currents().T})
    ref = "" if named else 'reference = "ref.mat"'
    recipe = RECIPE.replace("REFERENCE", ref).replace("SIM", str(sim)).replace("SCALE", str(scale))
    path = folder / "recipe.toml"
    path.write_text(recipe)
    return path


def test_calibration_and_noise_come_from_the_reference(tmp_path):
    recipe = load_recipe(write_device(tmp_path))
    assert recipe.operator["reference"] == str((tmp_path / "ref.mat").resolve())  # relative to the recipe
    _, _, setup = device_setup(recipe.operator)
    assert setup.sigma0 == pytest.approx(SIGMA0, rel=0.01)  # fitted on the mesh it was simulated on
    assert setup.noise_source == "repeats"
    rms = np.sqrt(np.mean(setup.noise_std**2))  # 8 channels x 8 repeats: 64 degrees of freedom
    assert NOISE * 0.7 < rms < NOISE * 1.3


def test_relative_operator_is_the_device_at_sigma0(tmp_path):
    """op(x) = A(sigma0 x) with the file's currents and the fitted contact impedance."""
    recipe = load_recipe(write_device(tmp_path))
    desc, model, setup = device_setup(recipe.operator)
    op = Problem(recipe).op
    physical = model.image_operator(setup.currents, setup.measurement, setup.contact_impedance, 0.02)
    x = torch.as_tensor(np.random.default_rng(0).uniform(0.5, 2.0, (2, 12, 12)))
    with torch.no_grad():
        np.testing.assert_allclose(op(x).numpy(), physical(setup.sigma0 * x).numpy(), rtol=1e-8)


def test_data_are_the_operator_applied_to_x_up_to_noise(tmp_path):
    """Without a finer simulation mesh the difference data are op(x) plus the noise of y and of
    the reference: (y - op(x)) / noise_std has standard deviation sqrt(2)."""
    problem = Problem(load_recipe(write_device(tmp_path, sim=0.0, scale=3.0)))
    out = problem.samples(np.arange(4), seed=2)
    with torch.no_grad():
        clean = problem.op(torch.as_tensor(out["x"])).numpy()
    kept = out["mask"]
    assert np.isnan(out["y"][~kept]).all() and (~kept).any()  # a broken electrode's values are NaN
    ratio = ((out["y"] - clean) / problem.op.noise_std)[kept]
    assert 1.2 < ratio.std() < 1.62
    assert np.isfinite(out["x0"]).all() and out["x0"].shape == out["x"].shape == (4, 12, 12)
    assert np.corrcoef((out["x0"] - 1).ravel(), (out["x"] - 1).ravel())[0, 1] > 0.3  # x0 sees the inclusions


def test_samples_are_reproducible_from_the_seed(tmp_path):
    path = write_device(tmp_path)
    a = Problem(load_recipe(path)).samples(np.arange(2), seed=7)
    b = Problem(load_recipe(path)).samples(np.arange(2), seed=7)
    c = Problem(load_recipe(path)).samples(np.arange(2), seed=8)
    for key in ("x", "y", "x0", "mask"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(np.nan_to_num(a["y"]), np.nan_to_num(c["y"]))


def test_named_patterns_need_no_reference(tmp_path):
    problem = Problem(load_recipe(write_device(tmp_path, named=True)))
    _, _, setup = device_setup(problem.recipe.operator)
    assert setup.noise_source == "fallback" and setup.sigma0 == 1.0
    out = problem.samples(np.arange(2), seed=0)
    assert out["y"].shape == (2, 64) and np.isfinite(out["x0"]).all()


@pytest.mark.parametrize(("edit", "named"), [
    (("radius = 0.1", "radius = 0.12"), "radius = 0.12"),
    (('reference = "ref.mat"', 'reference = "nowhere.mat"'), "reference"),
    (('description = "octo.toml"', 'description = "no_such_device"'), "description"),
    (("noise_scale", "noise_scael"), "noise_scael"),
    (("pixels", "pixels"), None),
])
def test_bad_keys_are_named(tmp_path, edit, named):
    path = write_device(tmp_path)
    if named is None:  # another grid than the description's
        path.write_text(path.read_text().replace("radius = 0.1\n", "radius = 0.1\npixels = 20\n"))
        named = "pixels = 20"
    else:
        path.write_text(path.read_text().replace(*edit))
    with pytest.raises(ValueError, match=named):
        Problem(load_recipe(path))


def test_a_reference_is_needed_for_patterns_read_from_files(tmp_path):
    path = write_device(tmp_path)
    path.write_text(path.read_text().replace('reference = "ref.mat"', ""))
    with pytest.raises(ValueError, match="reference"):
        Problem(load_recipe(path))
