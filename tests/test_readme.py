"""The README's examples run as written: its Python block, and every shell command, in order,
in one folder laid out as a clone (the documentation pages: ``test_docs.py``)."""

from pathlib import Path

import torch
from doc_examples import ROOT, make_clone, python_blocks, run_python, run_shell, shell_commands

README = ROOT / "README.md"


def test_readme_python_example_runs(capsys):
    assert python_blocks(README)
    namespace = run_python(README)
    assert "gradcheck=True" in capsys.readouterr().out  # check_operator's report
    v, g = namespace["v"], namespace["g"]
    assert v.shape == (2, 256) and g.shape == namespace["sigma"].shape and torch.isfinite(g).all()


def test_readme_shell_commands_run_as_written(tmp_path, monkeypatch, capsys, ktc_or_none):
    commands = shell_commands(README)
    assert any(c.startswith("invtools demo") for c in commands)
    assert any(c.startswith("python -m pytest") for c in commands)
    clone = make_clone(tmp_path, ktc_or_none)
    monkeypatch.chdir(clone)
    monkeypatch.delenv("INVTOOLS_KTC2023", raising=False)
    ran = run_shell(commands, ktc_or_none, capsys)
    assert any(c.startswith("invtools demo") for c in ran)
    assert (clone / "demo_out" / "metrics.json").is_file()
    if ktc_or_none is not None:
        assert Path(clone / "tank_l5.png").is_file() and (clone / "tank_l5.h5").is_file()


def test_readme_links_resolve():
    import re

    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text()):
        if "://" not in target:
            assert (ROOT / target).is_file(), f"README links to {target}, which does not exist"
