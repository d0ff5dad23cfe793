"""The five shared KIT4 files reconstruct by ``invtools reconstruct --device kit4`` (difference
and absolute); the saline-only file against itself segments as empty."""

import json

import h5py
import numpy as np
import pytest
from device_files import find_kit4

from invtools.workflow import cli

FILES = ["datamat_1_0", "datamat_1_1", "datamat_2_1", "datamat_3_2", "datamat_5_1"]


@pytest.fixture(scope="module")
def kit4():
    folder = find_kit4()
    if folder is None:
        pytest.skip("the KIT4 files are not here (set INVTOOLS_KIT4)")
    return folder


@pytest.mark.parametrize("absolute", [False, True], ids=["difference", "absolute"])
def test_every_kit4_file_by_the_cli(kit4, absolute, tmp_path, capsys):
    for name in FILES:
        out, seg = tmp_path / f"{name}.h5", tmp_path / f"{name}.npz"
        args = ["reconstruct", "--device", "kit4", "--method", "gn", "--measurements",
                str(kit4 / f"{name}.mat"), "--out", str(out), "--segment", str(seg)]
        assert cli.main(args + (["--absolute"] if absolute else [])) == 0, capsys.readouterr().err
        with h5py.File(out) as f:
            x, labels, info = f["x"][()], f["labels"][()], json.loads(f.attrs["info"])
        images = np.load(seg)["labels"]
        assert x.shape == (1, 32, 32) and np.isfinite(x).all() and (x > 0).all()
        assert images.shape == (1, 256, 256) and set(np.unique(images)) <= {0, 1, 2}
        assert info["device"] == "kit4" and info["mode"] == ("absolute" if absolute else "difference")
        assert info["calibration_misfit"] < 0.02  # the saline fits the homogeneous model to 1.4%
        if absolute:
            # the fit improves on the homogeneous start: much where inclusions are, some on saline
            assert info["objective"][-1] < (0.5 if name == "datamat_1_0" else 0.2) * info["objective"][0]
        elif name == "datamat_1_0":  # against itself: no change, nothing segmented
            np.testing.assert_allclose(x, info["sigma0"], rtol=1e-9)
            assert not images.any() and not labels.any()
        else:  # every other file holds inclusions: some are found
            assert images.any()


def test_every_kit4_file_by_the_shipped_model(kit4, tmp_path, capsys):
    from invtools.training.trained_model import shipped_models

    assert "kit4" in shipped_models()
    for name in FILES:
        out, seg = tmp_path / f"{name}.h5", tmp_path / f"{name}.npz"
        args = ["reconstruct", "--device", "kit4", "--model", "kit4", "--measurements",
                str(kit4 / f"{name}.mat"), "--out", str(out), "--segment", str(seg)]
        assert cli.main(args) == 0, capsys.readouterr().err
        assert "labels: 0 saline, 1 resistive, 2 conductive" in capsys.readouterr().out  # its classes
        with h5py.File(out) as f:
            x, info = f["x"][()], json.loads(f.attrs["info"])
        images = np.load(seg)["labels"]
        assert x.shape == (1, 32, 32) and np.isfinite(x).all() and (x > 0).all()
        assert info["device"] == "kit4" and info["mode"] == "difference"
        assert images.shape == (1, 256, 256) and set(np.unique(images)) <= {0, 1, 2}
        # the saline file against itself: nothing segmented; every other file: its inclusions
        assert images.any() == (name != "datamat_1_0")
