"""Build (and optionally execute) the notebooks from the cell lists below.

    python notebooks/_build.py [--execute]

Keeping the notebooks as generated files means their code is reviewed as Python here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _cells_workflow import QUICKSTART, TRAINING_RMA  # noqa: E402

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
from invtools.data.phantoms import disc_phantom"""),
    ("md", "16 electrodes covering 40% of the unit circle, contact impedance 0.01; "
           "two rounds of refinement near the electrode edges."),
    ("code", """electrodes = Electrodes.equally_spaced(16, coverage=0.4, z=0.01)
op = CEMForward.on_disk(electrodes, mesh_size=0.08, edge_levels=2)
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

SOLVER_LAYERS = [
    ("md", """# Differentiating through an LP: why LPGD

An LP layer maps costs q to a vertex x*(q) of the feasible polytope. x*(q) is piecewise
constant, so its true derivative is **zero almost everywhere**: implicit differentiation
(OptNet, cvxpylayers) returns zero gradients and a model upstream cannot learn.
LPGD (Paulus, Martius, Musil 2024) re-solves the LP with the incoming gradient folded into
the cost, q + tau dL/dx, and returns (x_tau - x*) / tau: the exact gradient of a
Lagrangian-smoothed loss, informative everywhere."""),
    ("code", """import numpy as np
import torch
import matplotlib.pyplot as plt
from invtools.solver_layers import HighsLP, OptLayer

# a hexagon: G x <= h
angles = np.linspace(0, 2 * np.pi, 7)[:-1]
G = np.stack([np.cos(angles), np.sin(angles)], axis=1)
h = np.ones(6)
target = torch.tensor([[0.0, -2 / np.sqrt(3)]])  # the bottom vertex"""),
    ("md", "The loss L(q) = |x*(q) - target|^2 over cost directions q: piecewise constant."),
    ("code", """grid = np.linspace(-1.5, 1.5, 25)
Q = torch.tensor(np.array([[a, b] for b in grid for a in grid]))
H = torch.tensor(h).expand(len(Q), -1)

def loss_and_grad(backward, tau=0.5):
    q = Q.clone().requires_grad_(True)
    x = OptLayer(HighsLP(), G=G, backward=backward, tau=tau)(q, None, H)
    loss = ((x - target) ** 2).sum(dim=1)
    loss.sum().backward()
    return loss.detach().numpy().reshape(25, 25), q.grad.numpy()

L, g_implicit = loss_and_grad("implicit")
_, g_lpgd = loss_and_grad("lpgd")
print("largest implicit gradient:", np.abs(g_implicit).max())
print("largest LPGD gradient:", np.abs(g_lpgd).max())"""),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, g, title in zip(axes, (g_implicit, g_lpgd), ("implicit (GD): zero", "LPGD, tau = 0.5")):
    im = ax.imshow(L, origin="lower", extent=[-1.5, 1.5, -1.5, 1.5], cmap="viridis")
    ax.quiver(Q[:, 0], Q[:, 1], -g[:, 0], -g[:, 1], color="w", scale=30)
    ax.set(title=title, xlabel="q_1", ylabel="q_2")
fig.colorbar(im, ax=axes, label="loss |x*(q) - target|^2");"""),
    ("md", "The negative LPGD gradients point towards the cost region whose vertex is the "
           "target (q pointing up makes the bottom vertex optimal); the implicit gradients "
           "are all zero. Training a cost model through the LP shows the same thing:"),
    ("code", """rng = np.random.default_rng(0)
n, k = 12, 6
Gb = np.vstack([np.eye(n), -np.eye(n), np.ones((1, n))])
hb = torch.tensor(np.concatenate([np.ones(n), np.zeros(n), [4.0]])).expand(64, -1)
feats = torch.tensor(rng.standard_normal((64, k)))
W_true = torch.tensor(rng.standard_normal((n, k)))
with torch.no_grad():
    x_obs = OptLayer(HighsLP(), G=Gb)(-(feats @ W_true.T), None, hb)
curves = {}
for name, kw in {"implicit": dict(backward="implicit"), "DBB": dict(backward="dbb"),
                 "LPGD": dict(backward="lpgd", tau=1.0)}.items():
    torch.manual_seed(0)
    W = torch.nn.Parameter(0.1 * torch.randn(n, k, dtype=torch.float64))
    opt = torch.optim.Adam([W], lr=0.05)
    layer = OptLayer(HighsLP(), G=Gb, **kw)
    curves[name] = []
    for _ in range(25):
        loss = ((layer(-(feats @ W.T), None, hb) - x_obs) ** 2).sum(1).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        curves[name].append(loss.item())
fig, ax = plt.subplots(figsize=(6, 4))
for name, c in curves.items():
    ax.plot(c, label=name, ls="--" if name == "DBB" else "-")
ax.set(xlabel="step", ylabel="loss", yscale="log"); ax.legend();"""),
    ("md", "With a linear cost, LPGD's right variant and DBB coincide exactly (the test suite "
           "checks this). LPGD also covers QPs, constraint parameters (b, h through the duals) and "
           "the centred variant; as tau -> 0 it converges to the implicit gradient wherever that "
           "exists (checked against KKT differentiation and cvxpylayers)."),
]

NOTEBOOKS = {"quickstart.ipynb": QUICKSTART, "eit_forward.ipynb": EIT_FORWARD,
             "training_rma.ipynb": TRAINING_RMA, "solver_layers.ipynb": SOLVER_LAYERS}


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
