"""The README's examples run as written: the Python blocks in order in one namespace
(cvxpylayers' habit), and every shell command, in order, in one folder laid out as a clone."""

import os
import re
import shlex
import shutil
from pathlib import Path

import torch

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 4


def test_readme_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write runs/readme/ here
    namespace: dict = {}
    for i, block in enumerate(python_blocks()):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102
    assert "gradcheck=True" in capsys.readouterr().out  # check_operator's report
    assert namespace["x_hat"].shape == (44, 53)
    assert namespace["history"][-1]["val_mse"] < namespace["history"][-1]["val_mse_x0"]
    assert float(namespace["q"].grad.abs().sum()) > 0  # LPGD's gradient through an LP is not zero
    assert namespace["v3"].shape == (1, 256) and namespace["tank"].system.dim == 3
    z = namespace["z"]
    assert z.shape == (4, 53, 3) and torch.allclose(z.sum(-1), torch.ones(4, 53, dtype=z.dtype))
    masses = namespace["admissible"].sum(dim=1)
    assert float((masses - 10.0).abs().max()) < 1e-9


# Commands too long for CI run with the same flags on a smaller -n (every other flag as written):
SMALLER = {
    "-n 4000": "-n 48",  # blur training set: 4000 signals and 20 epochs take minutes
    "-n 500": "-n 16",   # blur validation set
    "-n 400": "-n 12",   # EIT and thorax training sets: 400 phantoms, 6 epochs take minutes
    "-n 50": "-n 6",     # EIT and thorax validation sets
}
DEMO_N = "-n 64"  # the demo's 1024 training signals and 20 epochs take a minute: 64 in CI
SKIPPED = {
    "pip": "bash .ci/run installs the package as the README writes it, before the tests",
    "python": "python -m pytest -q is this very run",
}


def shell_commands() -> list[str]:
    """Every command of the README's bash blocks: continuation lines joined, comments dropped,
    ``&&`` chains split."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands += [c.strip() for c in shlex.join(words).split(" '&&' ")]
    return commands


def ci_form(command: str) -> str:
    """The command as CI runs it (SMALLER sizes; the demo with DEMO_N)."""
    for written, small in SMALLER.items():
        command = re.sub(rf"{re.escape(written)}(?!\d)", small, command)
    if command.startswith("invtools demo"):
        command += f" {DEMO_N}"
    return command


def test_readme_shell_commands_are_all_known():
    commands = shell_commands()
    assert len(commands) >= 15
    for c in commands:
        assert c.split()[0] in {"invtools", "cp", *SKIPPED}, c


def test_readme_shell_commands_run_as_written(tmp_path, monkeypatch, capsys, ktc_or_none):
    """In a folder laid out as the clone (datasets/, invtools/presets/, ../shared/ktc2023 when
    the measurements are here), each command in the README's order, in-process."""
    from invtools.cli import main

    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "datasets", clone / "datasets")
    shutil.copytree(ROOT / "invtools" / "presets", clone / "invtools" / "presets")
    if ktc_or_none is not None:
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "ktc2023").symlink_to(Path(ktc_or_none).resolve())
    monkeypatch.chdir(clone)
    monkeypatch.delenv("INVTOOLS_KTC2023", raising=False)
    ran = []
    for command in map(ci_form, shell_commands()):
        words = shlex.split(command)
        if words[0] in SKIPPED:
            continue
        if "../shared/ktc2023" in command and ktc_or_none is None:
            continue  # the tank's measurements are not on this machine
        if words[0] == "cp":
            shutil.copy(*words[1:])
        else:
            status = main(words[1:])
            assert status == 0, f"{command}: {capsys.readouterr().err}"
        ran.append(command)
    assert any(c.startswith("invtools demo") for c in ran) and any("train" in c for c in ran)
    for produced in ("demo_out/metrics.json", "rec.png", "eit_rec.png", "th.png",
                     "runs/blur1d-lpgd-rma/eval/metrics.json", "runs/eit-lpgd-rma/best.pt"):
        assert (clone / produced).is_file(), produced
    if ktc_or_none is not None:
        assert all((clone / f).is_file() for f in ("ktc1.mat", "ktc1_labels.png", "ktc1gn.npz", "ktc1l.h5"))
    assert os.path.getsize(clone / "rec.png") > 0
