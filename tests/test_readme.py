"""The README's Python examples run as written, in order, in one namespace (cvxpylayers' habit)."""

import re
from pathlib import Path

import torch

README = Path(__file__).parents[1] / "README.md"


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
