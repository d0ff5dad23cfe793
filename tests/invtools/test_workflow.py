"""generate -> train -> evaluate -> reconstruct through the CLI, on the 1-D blur and on EIT."""

import json

import h5py
import numpy as np
import pytest

from invtools.cli import main
from invtools.model import load_model


@pytest.mark.parametrize("recipe,arch", [("blur1d-rma", "lpgd"), ("eit-discs2", "lpd")])
def test_workflow(tmp_path, recipe, arch, capsys, train_config):
    assert main(["generate", recipe, "--out", str(tmp_path / "train.h5"), "-n", "48", "--seed", "0",
                 "--quiet"]) == 0
    assert main(["generate", recipe, "--out", str(tmp_path / "val.h5"), "-n", "16", "--seed", "1",
                 "--quiet"]) == 0
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
    assert metrics["model"]["n"] == 16 and metrics["gn"]["n"] == 2
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
