"""The documentation's code runs as written: each page's Python blocks in order in one
namespace, and the user's-guide pages' shell commands in order in one clone. (The site itself
is built with ``mkdocs build --strict`` by ``.ci/run``; its hooks are tested here.)"""

import logging
import os
import sys

import pytest
import torch
from doc_examples import ROOT, make_clone, python_blocks, run_python, run_shell, shell_commands

DOCS = ROOT / "docs"
GUIDE = ["getting-started.md", "ktc2023.md", "forward-models/eit.md"]  # their commands, in this order
STUDIES = ["results.md"]  # commands of studies that take hours: `python -m benchmarks...`, not run here


def test_every_page_with_code_is_covered():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    with_shell = {p for p in pages if shell_commands(DOCS / p)}
    assert with_shell <= set(GUIDE) | set(STUDIES), with_shell - set(GUIDE) - set(STUDIES)
    for page in STUDIES:
        assert all(c.split()[0] in ("python", "export") for c in shell_commands(DOCS / page))


def test_python_api_tour_runs(tmp_path, monkeypatch, capsys):
    kit4 = ROOT.parent / "shared" / "kit4"  # the device example reads a shared KIT4 file
    if not (kit4 / "datamat_2_1.mat").is_file() and "INVTOOLS_KIT4" not in os.environ:
        pytest.skip("the KIT4 files are not here (set INVTOOLS_KIT4)")
    monkeypatch.setenv("INVTOOLS_KIT4", os.environ.get("INVTOOLS_KIT4", str(kit4)))
    monkeypatch.chdir(tmp_path)  # the examples write runs/readme/ here
    page = DOCS / "python-api.md"
    assert len(python_blocks(page)) >= 4
    namespace = run_python(page)
    assert "gradcheck=True" in capsys.readouterr().out  # check_operator's report
    assert namespace["x_hat"].shape == (44, 53)
    assert namespace["history"][-1]["val_mse"] < namespace["history"][-1]["val_mse_x0"]
    assert float(namespace["q"].grad.abs().sum()) > 0  # LPGD's gradient through an LP is not zero
    assert namespace["v3"].shape == (1, 256) and namespace["tank"].system.dim == 3
    z = namespace["z"]
    assert z.shape == (4, 53, 3) and torch.allclose(z.sum(-1), torch.ones(4, 53, dtype=z.dtype))
    masses = namespace["admissible"].sum(dim=1)
    assert float((masses - 10.0).abs().max()) < 1e-9


def test_no_issue_numbers_outside_the_changelog():
    """Docs, tests and code say what is true now; which issue asked for it is history."""
    import re
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    pattern = re.compile(r"issue[ -]#?[0-9]", re.I)
    found = [f for f in files if f != "CHANGELOG.md" and not f.startswith("benchmarks/results/")
             and f.endswith((".md", ".py", ".toml", ".sh", ".ipynb", ".yml", ".cfg", ".txt"))
             and pattern.search((ROOT / f).read_text(errors="replace"))]
    assert found == [], found


def test_no_other_page_has_python_code():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if python_blocks(p)}
    assert pages == {"python-api.md"}, pages


def test_guide_commands_run_as_written(tmp_path, monkeypatch, capsys, ktc_or_none):
    commands = [c for page in GUIDE for c in shell_commands(DOCS / page)]
    assert len(commands) >= 15
    clone = make_clone(tmp_path, ktc_or_none)
    monkeypatch.chdir(clone)
    monkeypatch.delenv("INVTOOLS_KTC2023", raising=False)
    ran = run_shell(commands, ktc_or_none, capsys)
    assert any("train" in c for c in ran)
    for produced in ("rec.png", "eit_rec.png", "th.png", "runs/blur1d-lpgd-rma/eval/metrics.json",
                     "runs/eit-lpgd-rma/best.pt"):
        assert (clone / produced).is_file(), produced
    if ktc_or_none is not None:
        assert all((clone / f).is_file() for f in ("ktc1.mat", "ktc1_labels.png", "ktc1gn.npz", "ktc1l.h5"))
    assert (clone / "rec.png").stat().st_size > 0


# --- the site's hooks --------------------------------------------------------------------------
griffe = pytest.importorskip("griffe", reason="the docs extra is not installed")
sys.path.insert(0, str(DOCS / "hooks"))
import api_docstrings  # noqa: E402
import sphinx_roles  # noqa: E402


@pytest.fixture(scope="module")
def loaded():
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    return {"invtools": loader.load("invtools"), "forward_models": loader.load("forward_models")}


def test_every_public_object_has_a_docstring():
    assert api_docstrings.missing_docstrings() == []


def test_roles_resolve_like_sphinx(loaded):
    ops = loaded["invtools"]["operators"]
    assert sphinx_roles.resolve(ops, ".interface", loaded) == "invtools.operators.interface"
    found = sphinx_roles.resolve(ops["check"], "check_operator", loaded)
    assert found == "invtools.operators.check.check_operator"
    found = sphinx_roles.resolve(ops, "invtools.data.H5Dataset", loaded)
    assert found == "invtools.data.torch_dataset.H5Dataset"
    assert sphinx_roles.resolve(ops, "invtools.no_such_thing", loaded) is None


def test_a_broken_reference_is_a_warning_and_a_good_one_a_link(loaded, caplog):
    func = loaded["invtools"]["operators"]["check"]["check_operator"]
    text = "See :func:`~invtools.operators.interface.operator_from_config` and :class:`.NoSuch`."
    func.docstring.value = text
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.sphinx_roles"):
        sphinx_roles.SphinxRoles().on_package(pkg=loaded["invtools"], loader=_Loader(loaded))
    link = "[`operator_from_config`][invtools.operators.interface.operator_from_config]"
    assert link in func.docstring.value
    assert any("NoSuch" in r.getMessage() for r in caplog.records)


class _Loader:  # what SphinxRoles.on_package reads of a GriffeLoader
    def __init__(self, modules):
        self.modules_collection = type("C", (), {"members": modules})()
