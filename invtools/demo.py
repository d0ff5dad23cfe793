"""``invtools demo``: a small end-to-end run on the 1-D nonlinear blur.

Generates a data set, trains a tiny unrolled gradient method (learned step sizes, physics via
the operator's exact VJP and second derivatives), reconstructs held-out signals and writes a
figure.  Larger reconstructors (LPGD, LPD, RMA) use the same operator interface.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from forward_models.blur import QuadraticWindowBlur
from invtools.atomic import atomic_path
from invtools.phantoms import random_walk_signals


class LearnedStepDescent(torch.nn.Module):
    """``x_{k+1} = x_k - t_k J^T (A(x_k) - y)``, learned steps ``t_k = max_step * sigmoid(s_k)``.

    The bound keeps every step inside the stable range of the quadratic model.
    """

    def __init__(self, steps: int = 10, max_step: float = 0.2):
        super().__init__()
        self.max_step = max_step
        self.logits = torch.nn.Parameter(torch.zeros(steps))

    def step_sizes(self) -> torch.Tensor:
        return self.max_step * torch.sigmoid(self.logits)

    def forward(self, op, y: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for step in self.step_sizes():
            _, grad = op.data_fit_gradient(x, y)
            x = x - step * grad
        return x


def run_demo(out_dir: str | Path, n_train: int = 512, n_test: int = 64, epochs: int = 60,
             seed: int = 0, noise: float = 0.01) -> dict:
    """Generate, train, reconstruct, plot. Returns the metrics written to ``metrics.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    op = QuadraticWindowBlur(a=2.0, seed=seed)
    x = torch.as_tensor(random_walk_signals(n_train + n_test, op.n, rng))
    with torch.no_grad():
        y_clean = op(x)
    y = y_clean + noise * y_clean.abs().mean() * torch.as_tensor(rng.standard_normal(y_clean.shape))
    x_tr, y_tr, x_te, y_te = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    x0_tr, x0_te = torch.zeros_like(x_tr), torch.zeros_like(x_te)

    t0 = time.perf_counter()
    net = LearnedStepDescent().double()
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    losses = []
    for _ in range(epochs):
        for idx in torch.randperm(n_train).split(64):
            loss = torch.mean((net(op, y_tr[idx], x0_tr[idx]) - x_tr[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(loss.item())
    train_seconds = time.perf_counter() - t0

    with torch.no_grad():
        x_rec = net(op, y_te, x0_te)
    mse_x0 = float(torch.mean((x0_te - x_te) ** 2))
    mse = float(torch.mean((x_rec - x_te) ** 2))
    metrics = {"test_mse_x0": mse_x0, "test_mse": mse, "train_seconds": train_seconds,
               "learned_steps": net.step_sizes().tolist(), "seed": seed,
               "operator": op.config()}

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    axes[0].semilogy(losses)
    axes[0].set(title="training loss (MSE)", xlabel="epoch")
    for ax, i in zip(axes[1:], range(2), strict=True):
        ax.plot(x_te[i], "k-", label="truth")
        ax.plot(x_rec[i], "r--", label="reconstruction")
        ax.set(title=f"test signal {i}", xlabel="index")
        ax.legend()
    fig.tight_layout()
    with atomic_path(out_dir / "demo.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    return metrics
