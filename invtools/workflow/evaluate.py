"""``invtools evaluate``: metrics of a trained model and of the classical baseline on a test
set, as a table (printed, and in ``metrics.json``) and a figure grid of examples.

Metrics are computed in physical units (conductivity for EIT): MSE, PSNR, SSIM (mesh SSIM on
EIT meshes), relative error and dynamic range, and for a model with a labelling output layer its
label error and Dice per class (truth: each element's nearest level); the baseline runs on the first
``baseline_samples`` samples (it is slow), and the model is also scored on that subset.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtools.analysis.metrics import label_metrics, summarize
from invtools.analysis.plotting import plot_grid
from invtools.classical import ClassicalConfig, gauss_newton
from invtools.data import H5Dataset
from invtools.data.recipes import X0_DEFAULTS, initial_guess
from invtools.operators.geometry import input_adjacency
from invtools.operators.parametrization import from_net, to_net
from invtools.support.atomic import atomic_path
from invtools.training.trained_model import load_model

COLUMNS = ("mse", "psnr", "ssim", "relative_error", "dynamic_range")


def _batched(data: H5Dataset, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    items = [data[i] for i in range(rows)]
    return tuple(torch.stack([it[k] for it in items]).double() for k in range(3))  # type: ignore[return-value]


def evaluate(model: str | Path, data: str | Path, baseline: str = "gn", baseline_samples: int = 16,
             max_samples: int | None = None, batch_size: int = 64, out_dir: str | Path | None = None,
             n_plot: int = 4) -> dict[str, Any]:
    """Score ``model`` (and the classical ``baseline``: gn, linearized or none) on ``data``."""
    if baseline != "none" and baseline_samples < 1:
        raise ValueError(f"--baseline-samples {baseline_samples}: the {baseline} baseline needs at "
                         "least 1 sample (or pass --baseline none)")
    trained = load_model(model)
    test = H5Dataset(data)
    trained.check_operator_config(test.attrs["operator"], str(data))
    param = test.parametrization
    n = len(test) if max_samples is None else min(len(test), max_samples)
    x, y, x0 = _batched(test, n)
    truth, start = from_net(x, param), from_net(x0, param)
    t0 = time.perf_counter()
    pred = trained.predict(y, start, batch_size)
    model_seconds = (time.perf_counter() - t0) / n
    net_op = trained.net_operator
    adjacency = input_adjacency(net_op)
    rows: dict[str, dict[str, float]] = {
        "x0": {**summarize(start, truth, adjacency), "n": n},
        "model": {**summarize(pred, truth, adjacency), "n": n, "seconds_per_sample": model_seconds},
    }
    if trained.label_levels is not None:
        k = len(trained.label_levels)
        rows["model"].update(label_metrics(trained.labels(pred), trained.labels(truth), k))
    columns = {"truth": truth, "x0": start, "model": pred}
    if baseline != "none":
        k = min(n, baseline_samples)
        noise = trained.noise_level or test.attrs["recipe"].get("noise", {}).get("relative")
        x0_table = {**X0_DEFAULTS, **test.attrs["recipe"].get("x0", {})}
        t0 = time.perf_counter()
        if baseline == "linearized":  # one step from the recipe's constant start, by its prior
            start_b = initial_guess(net_op, param, {**x0_table, "method": "linearized"},
                                    float(noise) if noise else 0.0, y[:k].numpy())
            b = torch.as_tensor(to_net(start_b, param))
        else:
            cfg = ClassicalConfig(method=baseline, noise_level=float(noise) if noise else None)
            b, _ = gauss_newton(net_op, y[:k], x0[:k], cfg)
        rows[baseline] = {**summarize(from_net(b, param), truth[:k], adjacency), "n": k,
                          "seconds_per_sample": (time.perf_counter() - t0) / k}
        rows[f"model (first {k})"] = {**summarize(pred[:k], truth[:k], adjacency), "n": k}
        columns = {"truth": truth[:k], "x0": start[:k], baseline: from_net(b, param), "model": pred[:k]}
    result = {"model": str(model), "data": str(data), "metrics": rows}
    if out_dir is not None:
        out_dir = Path(out_dir)
        with atomic_path(out_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(result, indent=1))
        mesh = test.mesh
        plot_grid({k: v.numpy() for k, v in columns.items()}, out_dir / "examples.png", mesh, n_plot,
                  title=f"{Path(model).name} on {Path(data).name}",
                  units="S/m" if mesh is not None else "")
    return result


def format_table(result: dict[str, Any]) -> str:
    """The metrics as a Markdown table (with label error and Dice columns for a label model)."""
    extra = [k for k in result["metrics"]["model"] if k == "label_error" or k.startswith("dice_")]
    columns = COLUMNS + tuple(extra)
    lines = ["| method | n | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for name, m in result["metrics"].items():
        vals = " | ".join("-" if np.isnan(m.get(c, np.nan)) else f"{m[c]:.4g}" for c in columns)
        lines.append(f"| {name} | {m['n']} | {vals} |")
    return "\n".join(lines)
