"""The figures of ``invtools demo`` on the 1-D signals: each reads without the terminal (a title,
axis labels and a legend on every panel). Each is written atomically as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invtools.support.atomic import atomic_path

NET, GN = "LPGD-RMA (learned)", "Gauss-Newton"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    _pyplot().close(fig)


def plot_training(history: list[dict[str, float]], gn_mse: float, path: str | Path, title: str) -> None:
    """Training loss and validation MSE per epoch, with the zero start's and Gauss-Newton's MSE
    as horizontal lines (log scale)."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
    ax.semilogy(epochs, [row["train_loss"] for row in history], "o-", ms=3, label="net: training loss")
    ax.semilogy(epochs, [row["val_mse"] for row in history], "s-", ms=3, label="net: validation MSE")
    ax.axhline(gn_mse, color="tab:red", ls="--", label=f"{GN}: test MSE")
    if "val_mse_x0" in history[-1]:
        ax.axhline(history[-1]["val_mse_x0"], color="gray", ls=":", label="start x0 = 0: MSE")
    ax.set(xlabel="epoch", ylabel="mean squared error (log scale)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_examples(truth: np.ndarray, gn: np.ndarray, net: np.ndarray, path: str | Path, title: str,
                  n: int = 3) -> None:
    """The first ``n`` test signals (not selected): truth, Gauss-Newton and the net, each with
    its MSE; and a last panel of every test signal's MSE by both methods (below the diagonal:
    the net is better on that signal)."""
    from matplotlib.ticker import NullFormatter

    plt = _pyplot()
    e_gn, e_net = ((gn - truth) ** 2).mean(axis=1), ((net - truth) ** 2).mean(axis=1)
    n = min(n, len(truth))
    fig, axes = plt.subplots(1, n + 1, figsize=(3.6 * (n + 1), 3.6), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes[0, :n]):
        ax.plot(truth[i], "k-", lw=1.6, label="truth")
        ax.plot(gn[i], "--", color="tab:red", label=f"{GN} (MSE {e_gn[i]:.3f})")
        ax.plot(net[i], "-", color="tab:blue", label=f"{NET} (MSE {e_net[i]:.3f})")
        ax.set(title=f"test signal {i}", xlabel="position (sample index)", ylabel="signal value")
        ax.legend(fontsize=7, loc="best")
    ax = axes[0, n]
    lo = max(min(e_gn.min(), e_net.min()), 1e-6) / 1.5
    hi = max(e_gn.max(), e_net.max()) * 1.5
    wins = int((e_net < e_gn).sum())
    ax.loglog(e_gn, e_net, ".", ms=4, alpha=0.6, label=f"one test signal (net better: {wins}/{len(e_gn)})")
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="equal error")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=f"{GN}: MSE per signal", ylabel=f"{NET}: MSE per signal",
           title="every test signal, paired")
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    _save(fig, path)


def plot_reconstructions(truth: np.ndarray, x: np.ndarray, path: str | Path, title: str,
                         n: int = 8) -> None:
    """``invtools reconstruct``'s output: the first ``n`` test signals and the net's images of
    them, two rows of panels."""
    plt = _pyplot()
    n = min(n, len(truth))
    cols = (n + 1) // 2
    fig, axes = plt.subplots(2 if n > 1 else 1, cols, figsize=(3 * cols, 5.4 if n > 1 else 2.8),
                             squeeze=False, layout="constrained", sharex=True, sharey=True)
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.set_axis_off()
            continue
        ax.plot(truth[i], "k-", lw=1.4, label="truth")
        ax.plot(x[i], "-", color="tab:blue", label=NET)
        ax.set_title(f"test signal {i}", fontsize=9)
        if i % cols == 0:
            ax.set_ylabel("signal value")
        if i >= n - cols:
            ax.set_xlabel("position (sample index)")
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    _save(fig, path)
