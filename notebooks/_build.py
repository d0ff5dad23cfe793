"""Build (and optionally execute) the notebooks from the cell lists below.

    python notebooks/_build.py [--execute]

Keeping the notebooks as generated files means their code is reviewed as Python here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).parent

EIT_FORWARD = [
    ("md", """# The CEM forward model for EIT

`CEMForward` solves the complete electrode model (contact impedance, electrode width and
placement) with P1 finite elements on a conforming disk mesh, and gives exact derivatives by
the adjoint method. This notebook shows the mesh with its electrodes, a phantom, the electrode
potentials, and a sensitivity map (one row of the Jacobian)."""),
    ("code", """import numpy as np
import torch
import matplotlib.pyplot as plt
from forward_models.eit import CEMForward, Electrodes
from forward_models.eit.plot import plot_elements, plot_mesh
from invtools.phantoms import disc_phantom"""),
    ("md", "16 electrodes covering 40% of the unit circle, contact impedance 0.01; "
           "two rounds of refinement near the electrode edges."),
    ("code", """electrodes = Electrodes.equally_spaced(16, coverage=0.4, z=0.01)
op = CEMForward.on_disk(electrodes, h=0.08, edge_levels=2)
print(op, f"{op.mesh.p.shape[1]} nodes")
fig, ax = plt.subplots(figsize=(5, 5))
plot_mesh(ax, op.mesh, op.facets);"""),
    ("md", "A phantom with a conductive and a resistive disc (element centroids decide)."),
    ("code", """centroids = op.mesh.p[:, op.mesh.t].mean(axis=1)
sigma = disc_phantom(centroids, [(0.35, 0.3, 0.25, 3.0), (-0.4, -0.2, 0.3, 0.3)])
fig, ax = plt.subplots(figsize=(5, 4))
fig.colorbar(plot_elements(ax, op.mesh, sigma), ax=ax, label="conductivity (S/m)");"""),
    ("md", "Electrode potentials for each adjacent injection (rows sum to zero: the ground), "
           "and the change of the 256 adjacent-difference measurements caused by the discs."),
    ("code", """s = torch.as_tensor(sigma)[None]
U = op.electrode_potentials(s)[0].numpy()
y, y0 = op(s)[0].numpy(), op(torch.ones_like(s))[0].numpy()
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.5))
im = a.imshow(U, cmap="RdBu_r"); a.set(xlabel="electrode", ylabel="injection", title="U (V)")
fig.colorbar(im, ax=a)
b.plot(y - y0)
b.set(xlabel="measurement", ylabel="voltage (V)", title="phantom minus homogeneous");
print("max |row sum| =", np.abs(U.sum(axis=1)).max())"""),
    ("md", "A sensitivity map: the Jacobian row of one measurement (drive 0-1, measure 7-8), "
           "divided by element area, at the homogeneous conductivity."),
    ("code", """J = op.jacobian(torch.ones_like(s))[0].numpy()
row = J[7] / op.system.areas
lim = np.percentile(np.abs(row), 99)
fig, ax = plt.subplots(figsize=(5, 4))
fig.colorbar(plot_elements(ax, op.mesh, row, cmap="RdBu_r", vmin=-lim, vmax=lim), ax=ax)
ax.set_title("d y_7 / d sigma (per unit area)");"""),
    ("md", "The derivatives are exact: the operator checker compares them with finite "
           "differences, the adjoint identity and torch's gradcheck."),
    ("code", """from invtools import check_operator
check_operator(op, torch.as_tensor(sigma)[None])"""),
]

NOTEBOOKS = {"eit_forward.ipynb": EIT_FORWARD}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else
                nbformat.v4.new_code_cell(src) for kind, src in cells]
    return nb


def main() -> None:
    execute = "--execute" in sys.argv
    for name, cells in NOTEBOOKS.items():
        nb = build(name, cells)
        if execute:
            from nbclient import NotebookClient

            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(HERE)}}).execute()
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
