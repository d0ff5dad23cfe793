"""A network for a described device, end to end: ``invtools generate`` of a recipe of
``[operator] type = "device"`` (the 8-electrode device of device_files.py, calibrated on its
simulated reference), ``invtools train`` for one epoch, and ``invtools reconstruct --device
... --model``: images in S/m around the reference's conductivity, on the description's grid."""

import h5py
import numpy as np
import pytest
from device_files import simulate, write_mat

from invtools.devices import load_description
from invtools.workflow import cli

RECIPE = """
name = "eight"
parametrization = "log"
[operator]
type = "device"
description = "eight.toml"
reference = "empty.mat"
radius = 0.1
h = 0.012
simulation_mesh_size = 0.008
simulation_edge_levels = 0
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
clip = 6.0
[mask]
type = "electrodes"
level_fraction = 0.0
dropout_fraction = 0.0
broken_fraction = 1.0
broken = [1, 1]
"""

TRAIN = """
out = "run"
[data]
train = "train.h5"
val = "train.h5"
[net]
arch = "unet"
levels = 1
hidden = 8
mask_input = true
[train]
epochs = 1
batch_size = 4
lr = 1e-3
seed = 0
"""


def test_generate_train_reconstruct(eight, capsys):
    path, folder = eight
    desc = load_description(path)
    ref, currents = simulate(desc, None, noise=1e-3, seed=1)
    write_mat(folder / "empty.mat", ref, currents)
    meas = write_mat(folder / "meas.mat", simulate(desc, (0.04, 0.0, 0.025, 5.0), noise=1e-3, seed=2)[0],
                     currents)
    (folder / "recipe.toml").write_text(RECIPE)
    (folder / "train.toml").write_text(TRAIN)
    steps = [["generate", str(folder / "recipe.toml"), "--out", str(folder / "train.h5"), "-n", "8",
              "--seed", "1", "--quiet"],
             ["train", str(folder / "train.toml"), "--quiet"],
             ["reconstruct", "--device", str(path), "--model", str(folder / "run" / "best.pt"),
              "--measurements", str(meas), "--out", str(folder / "rec.h5")]]
    for argv in steps:
        assert cli.main(argv) == 0, capsys.readouterr().err
    with h5py.File(folder / "train.h5") as f:
        assert f["y"].shape == (8, 128) and np.isnan(f["y"][()]).any(axis=1).all()  # a broken electrode each
    with h5py.File(folder / "rec.h5") as f:
        x = f["x"][()]
    assert x.shape == (1, 16, 16) and np.all(np.isfinite(x)) and np.all(x > 0)
    assert 0.5 / 20 < np.median(x) < 0.5 * 20  # S/m around the reference's 0.5 (one epoch's net)


def test_a_model_of_another_recipe_kind_is_refused(eight, tmp_path):
    from invtools.devices.reader import read_device_file
    from invtools.devices.reconstruct import predict_device

    path, folder = eight
    desc = load_description(path)
    ref, currents = simulate(desc, None, seed=1)
    write_mat(folder / "empty.mat", ref, currents)

    class Trained:  # what predict_device reads of a model trained on another kind
        recipe = {"operator": {"type": "eit"}}
        path = "other.pt"

    with pytest.raises(ValueError, match='type = "device"'):
        predict_device(desc, read_device_file(desc, folder / "empty.mat"), Trained())
