import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from invtools.workflow.cli import build_parser, main
from invtools.workflow.demo import run_demo

PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_end_to_end_is_reproducible(tmp_path, ktc_or_none, same_run):
    for run, ktc in (("a", ktc_or_none or "none"), ("b", "none")):  # the tank part once
        run_demo(tmp_path / run, n_train=128, n_test=32, epochs=2, seed=1, progress=False, ktc=ktc)
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    for key in ("net_mse", "gn_mse", "mean_difference", "net_wins"):
        assert same_run(ma["comparison"][key], mb["comparison"][key]), key
    assert same_run(ma["test_psnr"], mb["test_psnr"])
    assert ("tank" in ma) == (ktc_or_none is not None) and "tank" not in mb
    if ktc_or_none is not None:
        assert set(ma["tank"]["seconds"]) == {"organisers' baseline", "Gauss-Newton + levels",
                                              "shipped model (ktc2023)"}
        assert ma["tank"]["levels"] == [1, 3, 5, 7]  # one target as electrodes are removed
    assert ma["test_mse"] < ma["test_mse_x0"]  # training beats the zero initial guess
    for name in ma["files"]:
        assert (tmp_path / "a" / name).is_file(), name
    for name in ("reconstruction.png", "examples.png", "run/loss.png"):
        assert (tmp_path / "a" / name).read_bytes()[:8] == PNG
    assert not list(tmp_path.rglob(".*tmp*"))  # no temporary files left behind


def test_the_paired_comparison_is_that_of_the_written_reconstructions(tmp_path):
    m = run_demo(tmp_path / "d", n_train=32, n_test=12, epochs=1, seed=0, progress=False, ktc="none")
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
