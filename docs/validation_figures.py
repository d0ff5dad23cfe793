"""The forward models' validation figures of the documentation (``docs/img/*_validation.png``),
with the numbers printed:

- EIT (CEM): electrode potentials of the homogeneous disk against the mesh-free Fourier
  reference (``forward_models.eit.disk_reference``) under mesh refinement, and the Taylor test
  of the exact Jacobian at a random conductivity;
- blur (1-D quadratic-window and 2-D image blur): the Taylor test of each operator.

Taylor test: for a direction v, ``|A(x + t v) - A(x)|`` falls as t (first order) and
``|A(x + t v) - A(x) - t J v|`` as t^2 when ``J v`` (``A_jvp``) is the exact derivative.

    python docs/validation_figures.py      # ~20 s on 2 cores
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from forward_models.blur import ImageBlur2D, QuadraticWindowBlur  # noqa: E402
from forward_models.eit import CEMForward, Electrodes, current_patterns  # noqa: E402
from forward_models.eit.disk_reference import disk_electrode_potentials  # noqa: E402

OUT = Path(__file__).parent / "img"
STEPS = np.logspace(-1, -6, 11)


def taylor(op, x: torch.Tensor, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """First- and second-order Taylor remainders of ``op`` at ``x`` for :data:`STEPS`."""
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype) * x.abs().mean()
    y, jv = op.A(x), op.A_jvp(x, v)
    r1 = [float((op.A(x + t * v) - y).norm()) for t in STEPS]
    r2 = [float((op.A(x + t * v) - y - t * jv).norm()) for t in STEPS]
    return np.array(r1), np.array(r2)


def slopes(r: np.ndarray) -> float:
    """The fitted order of a remainder over :data:`STEPS` (where it is above round-off)."""
    keep = r > 1e-12 * r.max() * 1e3
    return float(np.polyfit(np.log(STEPS[keep]), np.log(r[keep]), 1)[0])


def taylor_panel(ax, name: str, op, x: torch.Tensor) -> None:
    r1, r2 = taylor(op, x)
    print(f"{name}: Taylor orders {slopes(r1):.2f} (first) and {slopes(r2):.2f} (second)")
    ax.loglog(STEPS, r1, "o-", label=r"$|A(x+tv)-A(x)|$")
    ax.loglog(STEPS, r2, "s-", label=r"$|A(x+tv)-A(x)-t\,Jv|$")
    ax.loglog(STEPS, r1[0] * STEPS / STEPS[0], "k:", lw=0.8, label="slope 1")
    ax.loglog(STEPS, r2[0] * (STEPS / STEPS[0]) ** 2, "k--", lw=0.8, label="slope 2")
    ax.set(xlabel="step t", ylabel="remainder", title=f"{name}: Taylor test")
    ax.legend(fontsize=7)


def eit_figure() -> None:
    e = Electrodes.equally_spaced(16, 0.4, 0.05)
    adj = current_patterns("adjacent", 16)
    u1, u2 = (disk_electrode_potentials(e, adj, n_modes=n) for n in (256, 512))
    ref = u2 + (u2 - u1) / 3  # Richardson in the number of modes
    nodes, errors = [], []
    for h in (0.1, 0.05, 0.025, 0.0125):
        op = CEMForward.on_disk(e, h, currents=adj, measurements=None, edge_levels=2)
        u = op.electrode_potentials(torch.ones(1, op.n_in, dtype=torch.float64))[0].numpy()
        nodes.append(op.mesh.p.shape[1])
        errors.append(np.linalg.norm(u - ref) / np.linalg.norm(ref))
        print(f"CEM disk, h = {h}: {nodes[-1]} nodes, relative error {errors[-1]:.2e}")
    rate = -np.polyfit(np.log(nodes), np.log(errors), 1)[0]
    print(f"CEM disk: error ~ nodes^-{rate:.2f}")
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    a.loglog(nodes, errors, "o-")
    a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a.set_xticks(nodes, [f"{n:,}" for n in nodes])
    a.set(xlabel="mesh nodes", ylabel="relative error of electrode potentials",
          title=f"CEM vs Fourier reference (rate {rate:.2f})")
    op = CEMForward.on_disk(e, 0.1, currents=adj)
    taylor_panel(b, "CEM", op, op.example_input(1))
    fig.savefig(OUT / "eit_validation.png", dpi=110)
    plt.close(fig)


def blur_figure() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, (name, op) in zip(axes, (("1-D quadratic window", QuadraticWindowBlur.example()),
                                     ("2-D image blur", ImageBlur2D.example())), strict=True):
        x = op.example_input(1).double()
        taylor_panel(ax, name, op.double() if hasattr(op, "double") else op, x)
    fig.savefig(OUT / "blur_validation.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    eit_figure()
    blur_figure()
    print(f"wrote {OUT / 'eit_validation.png'} and {OUT / 'blur_validation.png'}")
