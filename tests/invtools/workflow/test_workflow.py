"""generate -> train -> evaluate -> reconstruct through the CLI, on the 1-D blur and on EIT."""

import json

import h5py
import numpy as np
import pytest
import torch

from invtools.training.trained_model import load_model
from invtools.workflow.cli import main


@pytest.mark.parametrize("recipe,arch,n_val", [("blur1d-rma", "lpgd", 16), ("eit-discs2", "lpd", 16),
                                               ("eit-thorax", "lpgd", 16), ("eit-cylinder", "lpgd", 4)])
def test_workflow(tmp_path, recipe, arch, n_val, capsys, train_config):
    """Also on a non-disk 2-D domain (an outline meshed by gmsh) and a 3-D tank: the CLI and the
    nets are unchanged (3-D: 4 validation samples, Gauss-Newton's O(n^3) prior choice is slow)."""
    assert main(["generate", recipe, "--out", str(tmp_path / "train.h5"), "-n", "48", "--seed", "0",
                 "--quiet"]) == 0
    assert main(["generate", recipe, "--out", str(tmp_path / "val.h5"), "-n", str(n_val), "--seed", "1",
                 "--quiet"]) == 0
    with h5py.File(tmp_path / "train.h5", "r") as f:  # 3-D meshes are stored as tetrahedra
        assert ("mesh/tetrahedra" in f) == (recipe == "eit-cylinder")
    (tmp_path / "train.toml").write_text(train_config(arch))
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 0
    run = tmp_path / "run"
    for name in ("best.pt", "last.pt", "history.csv", "history.json", "loss.png", "run_config.json"):
        assert (run / name).is_file(), name
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    # a second train into the same folder must not clobber the run
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 1
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run / "best.pt"), "--data", str(tmp_path / "val.h5"),
                 "--out", str(tmp_path / "eval"), "--baseline-samples", "2"]) == 0
    table = capsys.readouterr().out
    assert "| model |" in table and "| gn |" in table
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert metrics["model"]["n"] == n_val and metrics["gn"]["n"] == 2
    assert (tmp_path / "eval" / "examples.png").is_file()
    rec = tmp_path / "rec.h5"
    assert main(["reconstruct", "--model", str(run / "best.pt"), "--measurements", str(tmp_path / "val.h5"),
                 "--out", str(rec), "--plot", str(tmp_path / "rec.png")]) == 0
    with h5py.File(rec, "r") as f:
        x, truth = f["x"][()], f["x_true"][()]
        assert f.attrs["method"] == "model" and "operator" in f.attrs
    assert x.shape == truth.shape and np.all(np.isfinite(x))
    # the reconstruction command reproduces what evaluate scored
    assert np.isclose(np.mean((x - truth) ** 2), metrics["model"]["mse"], rtol=1e-4)
    # gn without a model uses the forward model stored in the data file
    assert main(["reconstruct", "--method", "gn", "--measurements", str(tmp_path / "val.h5"),
                 "--out", str(tmp_path / "gn.h5"), "--iterations", "2"]) == 0
    # the model object makes the start it was trained from: bare data get the same x0 as the file
    model = load_model(run / "best.pt")
    with h5py.File(tmp_path / "val.h5", "r") as f:
        y, x0 = f["y"][:4], f["x0"][:4]
    np.testing.assert_allclose(model.initial_guess(y), x0, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(y).numpy(), x[:4], rtol=1e-4, atol=1e-6)


def test_model_refuses_data_of_another_forward_model(tmp_path, capsys, train_config):
    assert main(["generate", "blur1d-rma", "--out", str(tmp_path / "train.h5"), "-n", "32", "--quiet"]) == 0
    assert main(["generate", "blur1d-rma", "--out", str(tmp_path / "val.h5"), "-n", "16", "--seed", "1",
                 "--quiet"]) == 0
    (tmp_path / "train.toml").write_text(train_config("lpgd", epochs=1))
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 0
    np.savez(tmp_path / "y.npz", y=np.zeros((2, 20)))
    capsys.readouterr()
    code = main(["reconstruct", "--model", str(tmp_path / "run/best.pt"), "--measurements",
                 str(tmp_path / "y.npz"), "--out", str(tmp_path / "r.h5")])
    assert code == 1 and "20 measurements per sample, but the model expects 12" in capsys.readouterr().err
    assert main(["generate", "eit-discs2", "--out", str(tmp_path / "eit.h5"), "-n", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "run/best.pt"),
                 "--data", str(tmp_path / "eit.h5")]) == 1
    assert "differs from the one" in capsys.readouterr().err
    assert not (tmp_path / "r.h5").exists()


def test_direction_options_in_the_training_config(tmp_path, capsys, train_config):
    assert main(["generate", "blur1d-rma", "--out", str(tmp_path / "train.h5"), "-n", "32",
                 "--quiet"]) == 0
    assert main(["generate", "blur1d-rma", "--out", str(tmp_path / "val.h5"), "-n", "16",
                 "--seed", "1", "--quiet"]) == 0
    base = train_config("lpd", epochs=1)
    (tmp_path / "train.toml").write_text(base.replace(
        "hidden = 8\n", "hidden = 8\ndirection_kwargs = { hidden = 6, with_gradient = true }\n"
                         'direction_source = "data_fit"\n'))
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 0
    net = load_model(tmp_path / "run" / "best.pt").net
    assert net.direction.cells[0].hidden_size == 6 and net.direction.channels == 2
    assert net.direction_source == "data_fit" and net.primal[0].layers[0].in_channels == 5 + 3
    (tmp_path / "bad.toml").write_text(base.replace("run", "run2").replace(
        "hidden = 8\n", "hidden = 8\ndirection_kwargs = { hiden = 6 }\n"))
    capsys.readouterr()
    assert main(["train", str(tmp_path / "bad.toml"), "--quiet"]) == 1
    assert "direction_kwargs {'hiden': 6} do not fit direction 'rma'" in capsys.readouterr().err
    assert not (tmp_path / "run2" / "best.pt").exists()
    (tmp_path / "lpgd.toml").write_text(train_config("lpgd", epochs=1).replace("run", "run3").replace(
        "hidden = 8\n", 'hidden = 8\ndirection_source = "data_fit"\n'))
    assert main(["train", str(tmp_path / "lpgd.toml"), "--quiet"]) == 1
    assert "direction_source is an LPD option" in capsys.readouterr().err
    assert not (tmp_path / "run3").exists()


def test_eit_net_with_a_labelling_lp_output_trains_and_reconstruct_writes_its_segmentation(
        tmp_path, capsys, train_config):
    """The acceptance path at toy size: a regression LPGD on EIT, then the same net with a
    labelling LP output started from it and trained end to end (LPGD backward, Hamming loss),
    then `invtools reconstruct --segment` writing the net's own classes."""
    from invtools.analysis.segmentation import mesh_to_pixels
    from invtools.nets.output_layers import level_labels

    for name, n, seed in (("train", 32, 0), ("val", 8, 1)):
        assert main(["generate", "eit-discs2", "--out", str(tmp_path / f"{name}.h5"), "-n", str(n), "--seed",
                     str(seed), "--quiet"]) == 0
    (tmp_path / "train.toml").write_text(train_config("lpgd", epochs=1))
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 0
    levels = [0.0, -1.0, 1.0]  # log-conductivity: background, resistive, conductive
    (tmp_path / "labels.toml").write_text(
        'out = "labels"\n[data]\ntrain = "train.h5"\nval = "val.h5"\n'
        '[net]\narch = "lpgd"\nsteps = 3\ndirection = "rma"\nhidden = 8\n'
        f'[net.output_layer]\ntype = "labeling"\nlevels = {levels}\nbeta = 0.05\ntau = 10.0\n'
        '[train]\nloss = "hamming"\ninit_from = "run/best.pt"\nepochs = 2\nbatch_size = 16\nseed = 0\n')
    assert main(["train", str(tmp_path / "labels.toml"), "--quiet"]) == 0
    history = json.loads((tmp_path / "labels" / "history.json").read_text())
    assert len(history) == 2 and all("val_label_error" in h and "val_dice_2" in h for h in history)
    model = load_model(tmp_path / "labels" / "best.pt")
    assert model.label_levels == levels
    regression = load_model(tmp_path / "run" / "best.pt")
    start = {k: v for k, v in regression.net.state_dict().items()}
    trained = model.net.state_dict()
    assert any(not np.array_equal(start[k], trained[k]) for k in start)  # it learned through the LP

    rec, seg = tmp_path / "rec.h5", tmp_path / "seg.npz"
    best = str(tmp_path / "labels" / "best.pt")
    assert main(["reconstruct", "--model", best, "--measurements", str(tmp_path / "val.h5"),
                 "--out", str(rec), "--segment", str(seg), str(tmp_path / "seg.png")]) == 0
    with h5py.File(rec, "r") as f:
        x, labels = f["x"][()], f["labels"][()]
    assert labels.shape == x.shape and set(np.unique(labels)) <= {0, 1, 2}
    np.testing.assert_array_equal(labels, level_labels(torch.as_tensor(np.log(x)), levels).numpy())
    np.testing.assert_allclose(np.log(x), np.array(levels)[labels], atol=1e-6)  # exactly at the levels
    frames = np.load(seg)["labels"]
    mesh = model.operator.mesh
    expected = np.nan_to_num(mesh_to_pixels(mesh.p, mesh.t, labels[0].astype(float), 256, 1.0))
    assert frames.shape == (8, 256, 256)
    np.testing.assert_array_equal(frames[0], expected.astype(np.uint8))
    assert (tmp_path / "seg.png").is_file()
    capsys.readouterr()
    assert main(["evaluate", "--model", best, "--data", str(tmp_path / "val.h5"), "--baseline", "none"]) == 0
    table = capsys.readouterr().out
    assert "label_error | dice_0 | dice_1 | dice_2 |" in table and "| model |" in table


def test_an_output_over_the_found_devices_reference_file_is_refused(tmp_path, capsys):
    """Without --device the files' device is found by their variables; its reference file beside
    them is an input that --out must not replace, even with --overwrite."""
    import scipy.io

    from invtools.devices import find_device, load_description, shipped_devices

    for name in shipped_devices():
        desc = load_description(name)
        f = desc["file"]
        folder = tmp_path / name
        folder.mkdir()
        scipy.io.savemat(folder / "m.mat", {v: np.zeros((2, 2)) for v in (f["voltages"], f["currents"],
                                                                          f["measurements"]) if v})
        assert find_device(folder / "m.mat").name == name
        ref = folder / desc["reference"]["file"]
        ref.write_bytes(b"old")
        capsys.readouterr()
        assert main(["reconstruct", "--method", "gn", "--measurements", str(folder / "m.mat"), "--out",
                     str(ref), "--overwrite"]) == 1
        assert "is an input of this command" in capsys.readouterr().err
        assert ref.read_bytes() == b"old"
