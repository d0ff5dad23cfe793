import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from invtools.devices import load_description, shipped_devices
from invtools.workflow.cli import build_parser, main
from invtools.workflow.demo import demo_methods, find_real_data, run_demo

PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_end_to_end_is_reproducible(tmp_path, same_run):
    for run, samples in (("a", None), ("b", "none")):  # the real-data part once
        run_demo(tmp_path / run, n_train=128, n_test=32, epochs=2, seed=1, progress=False, samples=samples)
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    for key in ("net_mse", "gn_mse", "mean_difference", "net_wins"):
        assert same_run(ma["comparison"][key], mb["comparison"][key]), key
    assert same_run(ma["test_psnr"], mb["test_psnr"])
    assert mb["real"] == [] and mb["real_skipped"] == "--samples none"
    found, _ = find_real_data(None)
    assert [part["device"] for part in ma["real"]] == [desc.name for desc, _ in found]
    assert bool(ma["real_skipped"]) == (not found)
    for part in ma["real"]:
        desc = load_description(part["device"])
        assert set(part["seconds"]) == set(demo_methods(desc)) >= {"Gauss-Newton", "one linearised step"}
        assert part["files"] == desc["samples"]["files"] and part["figure"] in ma["files"]
        assert (tmp_path / "a" / part["figure"]).read_bytes()[:8] == PNG
        if part["device"] == "ktc2023":  # the device's own method and its shipped model
            assert {"baseline", "shipped model (ktc2023)"} <= set(part["seconds"])
    assert ma["test_mse"] < ma["test_mse_x0"]  # training beats the zero initial guess
    for name in ma["files"]:
        assert (tmp_path / "a" / name).is_file(), name
    for name in ("reconstruction.png", "examples.png", "run/loss.png"):
        assert (tmp_path / "a" / name).read_bytes()[:8] == PNG
    assert not list(tmp_path.rglob(".*tmp*"))  # no temporary files left behind


def test_the_paired_comparison_is_that_of_the_written_reconstructions(tmp_path):
    m = run_demo(tmp_path / "d", n_train=32, n_test=12, epochs=1, seed=0, progress=False, samples="none")
    with h5py.File(tmp_path / "d" / "reconstruction.h5") as net, \
            h5py.File(tmp_path / "d" / "reconstruction_gn.h5") as gn:
        truth = net["x_true"][()]
        assert np.array_equal(truth, gn["x_true"][()]) and truth.shape == (12, 53)  # paired
        e_net = ((net["x"][()] - truth) ** 2).mean(axis=1)
        e_gn = ((gn["x"][()] - truth) ** 2).mean(axis=1)
    c = m["comparison"]
    assert c["n"] == 12 == m["gn_samples"] and m["problem"]["preset"] == "blur1d-tv"
    assert c["net_mse"] == pytest.approx(e_net.mean()) == m["test_mse"] == m["test_mse_model_on_gn_subset"]
    assert c["gn_mse"] == pytest.approx(e_gn.mean()) == m["test_mse_gn"]
    assert c["mean_difference"] == pytest.approx(c["net_mse"] - c["gn_mse"])
    assert c["ci95"][0] < c["mean_difference"] < c["ci95"][1]
    assert c["net_wins"] == int((e_net < e_gn).sum()) and c["gn_wins"] == int((e_net > e_gn).sum())
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["comparison"] == c
    # Gauss-Newton as `invtools reconstruct --method gn` runs it: the data's noise level picks lam
    assert "discrepancy principle" in m["gn_settings"]


@pytest.mark.parametrize("command", ["generate", "merge", "train", "evaluate", "reconstruct", "demo"])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"invtools {command}" in out


def test_cli_help_and_bad_command():
    out = subprocess.run([sys.executable, "-m", "invtools.workflow.cli", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "demo" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "invtools.workflow.cli", "nonsense"], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_errors_are_one_line_and_exit_nonzero(tmp_path, capsys):
    assert main(["generate", "no-such-preset", "--out", str(tmp_path / "x.h5"), "-n", "4"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("invtools generate: error: no recipe file or preset named") and "\n" not in err
    assert not (tmp_path / "x.h5").exists()


def test_a_samples_folder_names_its_device(tmp_path):
    for name in shipped_devices():
        desc = load_description(name)
        if not desc["samples"]["files"]:
            continue
        folder = tmp_path / name
        for f in desc["samples"]["files"]:
            (folder / f).parent.mkdir(parents=True, exist_ok=True)
            (folder / f).write_bytes(b"")
        assert [(d.name, path) for d, path in find_real_data(folder)[0]] == [(name, folder)]
    assert find_real_data("none") == ([], "--samples none")
    with pytest.raises(ValueError, match="holds the example files of no shipped device"):
        find_real_data(tmp_path / "empty")
    assert main(["demo", "--out", str(tmp_path / "out"), "--samples", str(tmp_path / "empty")]) == 1
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize("real, skipped", [([], "--samples none"), ([{
    "device": "dev", "description": "a test tank", "folder": "f", "files": ["a.mat", "b.mat"],
    "seconds": {"Gauss-Newton": 1.0, "shipped model (m)": 0.5}, "figure": "real_dev.png"}], "")])
def test_the_demo_command_says_what_real_data_it_imaged_or_why_none(monkeypatch, capsys, real, skipped):
    import invtools.workflow.demo as demo

    truth = np.zeros((3, 4))
    summary = {"comparison": demo.paired_comparison(truth, truth + 0.1, truth + 0.2), "test_mse": 0.01,
               "test_mse_x0": 1.0, "gn_samples": 3, "test_mse_model_on_gn_subset": 0.01,
               "test_mse_gn": 0.04, "train_seconds": 1.0, "real": real, "real_skipped": skipped}
    monkeypatch.setattr(demo, "run_demo", lambda *args, **kwargs: summary)
    assert main(["demo", "--out", "d", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    if real:
        assert out[-1] == ("a test tank: 2 real measurement file(s) by Gauss-Newton, shipped model (m) in "
                           "d/real_dev.png")
    else:
        assert out[-1] == "real-data part skipped: --samples none"
