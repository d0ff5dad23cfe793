"""The training log: ``history.json``, ``history.csv`` (one row per epoch) and ``loss.png``
(training loss and validation MSE against epochs), all written atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from invtools.support.atomic import atomic_path


def write_log(history: list[dict[str, float]], out_dir: str | Path, plot: bool = True) -> None:
    """Write ``history`` (one dict per epoch) to ``history.json`` and ``history.csv`` in
    ``out_dir``, and ``loss.png`` if ``plot``; an empty history writes only ``history.json``."""
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "history.json") as tmp:
        tmp.write_text(json.dumps(history, indent=1))
    if not history:
        return
    fields = list(dict.fromkeys(k for row in history for k in row))
    with atomic_path(out_dir / "history.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
    if plot:
        plot_loss(history, out_dir / "loss.png")


def plot_loss(history: list[dict[str, float]], path: str | Path) -> None:
    """Plot ``train_loss`` (and ``val_mse``, with the last ``val_mse_x0`` as a line, where
    present) against ``epoch`` on a log scale to the PNG file ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.semilogy(epochs, [row["train_loss"] for row in history], "o-", ms=3, label="train loss")
    if "val_mse" in history[0]:
        ax.semilogy(epochs, [row["val_mse"] for row in history], "s-", ms=3, label="validation MSE")
    if "val_mse_x0" in history[0]:
        ax.axhline(history[-1]["val_mse_x0"], color="gray", ls=":", label="x0 MSE")
    ax.set(xlabel="epoch", ylabel="loss, MSE (log scale)", title="training")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
