"""Every notebook executes top to bottom (code cells run in order, figures to the Agg backend)."""

import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INVTOOLS_QUICK", "1")  # the notebooks' CI-sized mode
    cells = json.loads(path.read_text())["cells"]
    namespace: dict = {"__name__": "__notebook__"}
    for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
        source = "".join(cell["source"])
        exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)
    plt.close("all")


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "eit_forward.ipynb", "training_rma.ipynb", "solver_layers.ipynb"} <= names


def test_notebooks_are_built_from_their_sources():
    import sys

    import nbformat

    sys.path.insert(0, str(NOTEBOOKS[0].parent))
    import _build

    for name, cells in _build.NOTEBOOKS.items():
        built = _build.build(name, cells)
        saved = nbformat.read(NOTEBOOKS[0].parent / name, as_version=4)
        assert [c.source for c in built.cells] == [c.source for c in saved.cells], name
