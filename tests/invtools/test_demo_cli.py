import json
import subprocess
import sys

from invtools.cli import main


def test_demo_end_to_end_is_reproducible(tmp_path):
    for run in ("a", "b"):
        args = ["demo", "--out", str(tmp_path / run), "--epochs", "2", "--seed", "1", "--quiet"]
        assert main(args) == 0
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert ma["test_mse"] == mb["test_mse"] and ma["test_psnr"] == mb["test_psnr"]
    assert ma["test_mse"] < ma["test_mse_x0"]  # training beats the zero initial guess
    png = (tmp_path / "a" / "demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("a/.*tmp*"))  # no temporary files left behind


def test_cli_help_and_bad_command():
    out = subprocess.run([sys.executable, "-m", "invtools.cli", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "demo" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "invtools.cli", "nonsense"], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
