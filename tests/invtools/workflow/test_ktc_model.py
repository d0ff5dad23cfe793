"""Learned reconstruction on the KTC2023 tank: a toy tank model trained through the CLI, the
shipped model on the real files, and the files' currents normalised to the nominal one."""

import json

import numpy as np
import pytest
import scipy.io

from invtools.data.recipes import load_recipe
from invtools.training.config import build_from_config, load_run_config
from invtools.training.trained_model import resolve_model, shipped_models
from invtools.workflow.cli import main
from invtools.workflow.reconstruct import reconstruct

TOY = {"h": 0.02, "pixels": 16, "simulation_mesh_size": 0.012, "simulation_edge_levels": 0}


def _toy_recipe(tmp_path):
    d = load_recipe("ktc2023").to_dict()
    d["operator"].update(TOY)
    lines = ['name = "ktc-toy"', 'parametrization = "log"']  # JSON values are valid TOML here
    for table in ("operator", "phantom", "noise", "x0"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in d[table].items()]
    path = tmp_path / "ktc_toy.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_toy_tank_unet_trains_and_segments_the_real_file(tmp_path, ktc, capsys):
    recipe = _toy_recipe(tmp_path)
    for name, n, seed in (("train.h5", 24, 0), ("val.h5", 8, 1)):
        assert main(["generate", str(recipe), "--out", str(tmp_path / name), "-n", str(n), "--seed",
                     str(seed), "--quiet"]) == 0
    config = tmp_path / "train.toml"
    config.write_text('out = "run"\n[data]\ntrain = "train.h5"\nval = "val.h5"\ntrain_samples = 16\n'
                      '[net]\narch = "unet"\nlevels = 1\nhidden = 4\n[train]\nepochs = 1\nbatch_size = 8\n')
    assert len(build_from_config(load_run_config(config), progress=False).train_set) == 16
    assert main(["train", str(config), "--quiet"]) == 0
    labels = tmp_path / "labels.mat"
    assert main(["reconstruct", "--model", str(tmp_path / "run/best.pt"), "--measurements",
                 str(ktc / "data1.mat"), "--out", str(tmp_path / "r.h5"), "--segment", str(labels)]) == 0
    image = scipy.io.loadmat(labels)["reconstruction"]
    assert image.shape == (256, 256) and set(np.unique(image)) <= {0, 1, 2}
    bad = config.read_text().replace("train_samples = 16", "train_samples = 99").replace('"run"', '"run2"')
    config.write_text(bad)
    capsys.readouterr()
    assert main(["train", str(config), "--quiet"]) == 1
    assert "train_samples = 99" in capsys.readouterr().err


@pytest.mark.skipif("ktc2023" not in shipped_models(), reason="no shipped tank model")
def test_the_shipped_tank_model_segments_the_real_files(tmp_path, ktc):
    for k in (1, 4):
        labels = tmp_path / f"s{k}.npz"
        assert main(["reconstruct", "--model", "ktc2023", "--measurements", str(ktc / f"data{k}.mat"),
                     "--out", str(tmp_path / f"r{k}.h5"), "--segment", str(labels)]) == 0
        image = np.load(labels)["labels"][0]
        assert image.shape == (256, 256) and (image == 0).mean() > 0.5
        assert image[0, 0] == image[-1, -1] == 0 and len(np.unique(image)) > 1


def test_model_names_resolve_to_shipped_files_only(tmp_path):
    with pytest.raises(FileNotFoundError, match="no shipped model of that name"):
        resolve_model("no-such-model")
    assert resolve_model(tmp_path / "x.pt") == tmp_path / "x.pt"  # paths stay paths
    for name in shipped_models():
        assert resolve_model(name).is_file()


def test_injection_currents_are_normalised_to_the_nominal_one(tmp_path, ktc):
    """Rescaling one injection's current and its voltages (the CEM is linear in the current)
    does not change the reconstruction."""
    base = reconstruct(ktc / "data2.mat", method="linearized")
    ref, data = scipy.io.loadmat(ktc / "ref.mat"), scipy.io.loadmat(ktc / "data2.mat")
    rows = slice(5 * 31, 6 * 31)
    ref["Injref"][:, 5] *= 1.3
    ref["Uelref"][rows] *= 1.3
    data["Inj"][:, 5] *= 1.3
    data["Uel"][rows] *= 1.3
    scipy.io.savemat(tmp_path / "ref.mat", {k: ref[k] for k in ("Uelref", "Injref", "Mpat")})
    scipy.io.savemat(tmp_path / "data2.mat", {k: data[k] for k in ("Uel", "Inj", "Mpat")})
    scaled = reconstruct(tmp_path / "data2.mat", method="linearized")
    np.testing.assert_allclose(scaled.x, base.x, rtol=1e-9, atol=1e-12)


def test_evaluate_scores_the_shipped_model_by_name_with_a_sane_linearized_baseline(tmp_path, capsys):
    """``evaluate --model ktc2023`` takes the shipped name; its ``linearized`` baseline is one step
    from the recipe's constant start by the recipe's prior, which is how the data's x0 was made:
    the two agree (the old baseline, a second unguarded step from x0, was 60x worse than x0)."""
    data = tmp_path / "ktc.h5"
    assert main(["generate", "ktc2023", "--out", str(data), "-n", "4", "--seed", "5"]) == 0
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", "ktc2023", "--data", str(data), "--baseline", "linearized",
                 "--baseline-samples", "4", "--out", str(out)]) == 0
    rows = json.loads((out / "metrics.json").read_text())["metrics"]
    for col in ("mse", "relative_error"):
        assert np.isfinite(rows["linearized"][col])
        assert rows["linearized"][col] == pytest.approx(rows["x0"][col], rel=1e-6)
    assert main(["evaluate", "--model", "no-such-model", "--data", str(data)]) == 1
    assert "ktc2023" in capsys.readouterr().err


@pytest.mark.skipif("ktc2023" not in shipped_models(), reason="no shipped tank model")
def test_the_shipped_model_labels_real_files_at_256_by_its_refiner(ktc):
    """Its labels are the refiner's 256 x 256 classes, not the 32 x 32 image cut into blocks,
    resampled to the tank's label frame."""
    from invtools.devices.label_frame import frame_labels
    from invtools.workflow.reconstruct.result import label_images

    rec = reconstruct(ktc / "levels" / "level5" / "data1.mat", model="ktc2023")
    assert rec.label_images is not None and rec.label_images.shape == (1, 256, 256)
    assert rec.label_frame == 1.095
    assert np.array_equal(label_images(rec), frame_labels(rec.label_images, 1.095))
    blocks = rec.label_images[0].reshape(32, 8, 32, 8)  # 8-pixel blocks of the 32 x 32 image
    assert (blocks != blocks[:, :1, :, :1]).any()  # some block is not one class: finer than 32 x 32
