import json
import subprocess
import sys

import pytest

from invtools.workflow.cli import build_parser, main
from invtools.workflow.demo import run_demo

PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_end_to_end_is_reproducible(tmp_path, ktc_or_none, same_run):
    for run, ktc in (("a", ktc_or_none or "none"), ("b", "none")):  # the tank part once
        run_demo(tmp_path / run, n_train=128, n_test=32, epochs=2, seed=1, progress=False, ktc=ktc)
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert same_run(ma["test_mse"], mb["test_mse"]) and same_run(ma["test_psnr"], mb["test_psnr"])
    assert ("tank" in ma) == (ktc_or_none is not None) and "tank" not in mb
    if ktc_or_none is not None:
        assert set(ma["tank"]["seconds"]) == {"organisers' baseline", "Gauss-Newton + levels",
                                              "shipped model (ktc2023)"}
        assert ma["tank"]["levels"] == [1, 3, 5, 7]  # one target as electrodes are removed
    assert ma["test_mse"] < ma["test_mse_x0"]  # training beats the zero initial guess
    for name in ma["files"]:
        assert (tmp_path / "a" / name).is_file(), name
    assert (tmp_path / "a" / "reconstruction.png").read_bytes()[:8] == PNG
    assert not list(tmp_path.rglob(".*tmp*"))  # no temporary files left behind


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
