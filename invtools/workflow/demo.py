"""``invtools demo``: the whole workflow, small, on a problem where learning pays: the 1-D
nonlinear blur of the RMA paper with its own signals (preset ``blur1d-tv``: positive Laplace random
walks scaled to [-1, 1], quadratic-window blur a = 2, 12 measurements of 53 samples, 1% noise).

1. ``generate`` blur1d-tv: 1024 training, 128 validation and 256 test signals (HDF5);
2. ``train`` an LPGD network with recurrent momentum acceleration (RMA), 10 steps, for 10
   epochs by default (config written to ``train.toml``; the best epoch by validation MSE is kept);
3. ``reconstruct`` the test signals with the trained net, and with Gauss-Newton as
   ``invtools reconstruct --method gn`` runs it (Levenberg-Marquardt, 10 iterations, smoothness
   prior weighted by the discrepancy principle at the data's 1% noise, from the same start
   x0 = 0);
4. compare the two on the same test signals, paired: each method's mean per-signal MSE, the mean
   difference with a 95% t-interval, and on how many signals the net is better
   (``metrics.json``, the figures ``run/loss.png``, ``examples.png``, ``reconstruction.png``);
5. real data of every shipped device whose example files are found (its description's
   ``[samples]`` table, :func:`~invtools.devices.find_samples`): the listed files by every
   classical method of the device's adapter (Gauss-Newton, one linearised step, its own) and its
   shipped model (``[samples] model``), segmented side by side in ``real_<device>.png`` (seconds
   per device).
Everything goes into one folder. An existing folder is refused unless ``overwrite``; then the
old folder is moved aside while the new one is built, and removed once it is complete (an error
or Ctrl-C puts the old one back), so the folder is never a mix of two runs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from invtools.analysis.metrics import summarize
from invtools.analysis.plotting import plot_label_grid
from invtools.data import generate
from invtools.data.recipes import load_recipe
from invtools.devices import DeviceDescription, find_samples, load_adapter, load_description, shipped_devices
from invtools.support.atomic import atomic_path
from invtools.training.config import run_training
from invtools.workflow.demo_figures import plot_examples, plot_reconstructions, plot_training
from invtools.workflow.reconstruct import reconstruct, write_reconstruction
from invtools.workflow.reconstruct.result import label_images

PRESET = "blur1d-tv"
TRAIN_CONFIG = """# written by `invtools demo`; run it yourself with `invtools train {path}`
out = "run"

[data]
train = "data/train.h5"
val = "data/val.h5"

[net]
arch = "lpgd"
steps = 10
direction = "rma"
hidden = 32

[train]
epochs = {epochs}
batch_size = 64
lr = 5e-3
lr_schedule = "cosine"
grad_clip = 1.0
seed = {seed}
"""
GN_SETTINGS = ("Levenberg-Marquardt, 10 iterations, smoothness (Laplacian) prior weighted by the "
               "discrepancy principle at the data's noise level, from x0 = 0")


METHOD_TITLES = {"gn": "Gauss-Newton", "linearized": "one linearised step"}  # figure columns


def real_data_title(desc: DeviceDescription, n_columns: int) -> str:
    """The real-data figure's title: the device's description and its three classes, wrapped
    to the figure's width (``n_columns`` narrow columns)."""
    c = desc["segmentation"]["classes"]
    return "\n".join(textwrap.wrap(
        f"{desc['device']['description'] or desc.name}, real data: its example files, segmented by each "
        f"method: {c[0]} (light), {c[1]} (blue), {c[2]} (red)", width=max(21 * n_columns, 32)))


def demo_methods(desc: DeviceDescription) -> dict[str, tuple[str, str | None]]:
    """The real-data figure's columns for a device: title -> (method, shipped model name or None):
    every classical method its adapter lists, then the model that its ``[samples]`` table names."""
    model = desc["samples"]["model"]
    return {**{METHOD_TITLES.get(m, m): (m, None) for m in load_adapter(desc).methods if m != "model"},
            **({f"shipped model ({model})": ("model", model)} if model else {})}


def find_real_data(samples: str | Path | None) -> tuple[list[tuple[DeviceDescription, Path]], str]:
    """The shipped devices whose example files the demo images, each with its folder, and why
    the list is empty (else ``""``). ``samples``: None for every device whose files
    :func:`~invtools.devices.find_samples` finds; ``"none"`` for none; else a folder, whose
    device is the one whose ``[samples]`` files it holds (none: a ValueError)."""
    descs = [d for d in map(load_description, shipped_devices()) if d["samples"]["files"]]
    if str(samples) == "none":
        return [], "--samples none"
    if samples is None:
        found = [(d, find_samples(d)) for d in descs]
        found = [(d, folder) for d, folder in found if folder is not None]
        where = [f"${d['samples']['env']}" for d in descs if d["samples"]["env"]] + ["../shared/DEVICE"]
        return found, "" if found else (f"no shipped device's example files found ({', '.join(where)}); "
                                        "pass --samples FOLDER")
    folder = Path(samples)
    for d in descs:
        if all((folder / f).is_file() for f in d["samples"]["files"]):
            return [(d, folder)], ""
    raise ValueError(f"--samples {folder}: holds the example files of no shipped device (their "
                     f"[samples] files: " + "; ".join(f"{d.name}: {', '.join(d['samples']['files'])}"
                                                      for d in descs) + ")")


def reconstruct_targets(folder: str | Path, methods: dict[str, tuple[str, str | None]],
                        files: tuple[str, ...], device: str | Path | None = None
                        ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
    """Label images (n, n) of a device's measurement files (relative to ``folder``) by every
    method (column name -> (method, model or None), as :func:`demo_methods` gives), and each
    method's mean seconds per file."""
    labels: dict[str, dict[str, np.ndarray]] = {name: {} for name in files}
    seconds = dict.fromkeys(methods, 0.0)
    for name in files:
        for column, (method, model) in methods.items():
            t0 = time.perf_counter()
            rec = reconstruct(Path(folder) / name, model=model, method=method, device=device)
            labels[name][column] = label_images(rec)[0]
            seconds[column] += (time.perf_counter() - t0) / len(files)
    return labels, seconds


def paired_comparison(truth: np.ndarray, net: np.ndarray, gn: np.ndarray) -> dict:
    """The net against Gauss-Newton on the same signals (N, n): each method's mean per-signal
    MSE, the mean paired difference (net - Gauss-Newton; negative: the net is better) with its
    95% t-interval, and on how many signals the net's MSE is the lower."""
    from scipy.stats import t as student_t

    e_net, e_gn = ((net - truth) ** 2).mean(axis=1), ((gn - truth) ** 2).mean(axis=1)
    d = e_net - e_gn
    n = len(d)
    half = float(student_t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "metric": "MSE per test signal", "net_mse": float(e_net.mean()),
            "gn_mse": float(e_gn.mean()), "mean_difference": float(d.mean()),
            "ci95": [float(d.mean()) - half, float(d.mean()) + half], "interval": "t, 95%",
            "relative_difference": float(d.mean() / e_gn.mean()), "net_wins": int((d < 0).sum()),
            "gn_wins": int((d > 0).sum())}


def verdict(summary: dict) -> str:
    """The paired comparison of ``summary["comparison"]`` in words, two lines."""
    c = summary["comparison"]
    lo, hi = c["ci95"]
    line = (f"paired, the same {c['n']} test signals (MSE per signal): LPGD-RMA {c['net_mse']:.4g}, "
            f"Gauss-Newton {c['gn_mse']:.4g}; difference (net - GN) {c['mean_difference']:.4g}, "
            f"95% interval [{lo:.4g}, {hi:.4g}]; the net is better on {c['net_wins']} of {c['n']}")
    net, gn = c["net_mse"], c["gn_mse"]
    if hi < 0:
        return f"{line}\nthe learned net beats Gauss-Newton: {100 * (gn - net) / gn:.0f}% lower mean error"
    if lo > 0:
        return f"{line}\nGauss-Newton beats the learned net: {100 * (net - gn) / net:.0f}% lower mean error"
    return f"{line}\nno difference shown: the interval contains 0 (train longer: --epochs, -n)"


def run_demo(out_dir: str | Path, n_train: int = 1024, n_test: int = 256, epochs: int = 10,
             seed: int = 0, progress: bool = True, samples: str | Path | None = None,
             overwrite: bool = False) -> dict:
    """Generate, train, reconstruct by the net and by Gauss-Newton, compare the two paired; then
    the real data of shipped devices (``samples``: as :func:`find_real_data` takes it). Returns
    the summary written to ``metrics.json`` (``real``: one entry per imaged device;
    ``real_skipped``: why none was, else ``""``). An existing ``out_dir`` is refused unless
    ``overwrite`` (module docstring)."""
    out_dir = Path(out_dir)
    real = find_real_data(samples)  # a folder of no device's files fails before anything is written
    with replacing(out_dir, overwrite):
        return _run(out_dir, n_train, n_test, epochs, seed, progress, real)


@contextlib.contextmanager
def replacing(folder: Path, overwrite: bool) -> Iterator[None]:
    """Build ``folder`` anew: an existing one is refused without ``overwrite``, else moved aside
    (``.NAME.replaced``) and removed once the body completes; on an error the partial folder is
    removed and the old one put back."""
    backup = folder.with_name(f".{folder.name}.replaced")
    if backup.exists():
        raise FileExistsError(f"{backup} holds the folder an interrupted demo was replacing; move it "
                              f"back to {folder} or delete it")
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ValueError(f"--out {folder} exists and is not a folder; refusing to replace it")
    existed = folder.is_dir()
    old = existed and any(folder.iterdir())
    if old and not overwrite:
        raise FileExistsError(f"--out {folder} exists; pass --overwrite to replace the whole folder")
    if old:
        folder.rename(backup)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if old:
            backup.rename(folder)
        elif existed:
            folder.mkdir()
        raise
    if old:
        shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with ``n`` torch threads, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(out_dir: Path, n_train: int, n_test: int, epochs: int, seed: int, progress: bool,
         real: tuple[list[tuple[DeviceDescription, Path]], str]) -> dict:
    recipe = load_recipe(PRESET)
    test = out_dir / "data/test.h5"
    # one thread: signals of 53 samples gain little from more, lose much when the cores are shared,
    # and a seed gives the same numbers whatever the core count
    with torch_threads(1):
        for name, n, k in (("train", n_train, 0), ("val", min(n_test, 128), 1), ("test", n_test, 2)):
            generate(recipe, out_dir / f"data/{name}.h5", n, seed=3 * seed + k, progress=progress)
        config = out_dir / "train.toml"
        with atomic_path(config) as tmp:
            tmp.write_text(TRAIN_CONFIG.format(path=config, epochs=epochs, seed=seed))
        _, history = run_training(config, progress=progress)
        t0 = time.perf_counter()
        net = reconstruct(test, model=out_dir / "run/best.pt")
        t1 = time.perf_counter()
        gn = reconstruct(test, method="gn")  # as `invtools reconstruct data/test.h5 --method gn`
        t2 = time.perf_counter()
    write_reconstruction(net, out_dir / "reconstruction.h5")
    write_reconstruction(gn, out_dir / "reconstruction_gn.h5")
    truth = np.asarray(net.truth, dtype=np.float64)
    x_net, x_gn = np.asarray(net.x, dtype=np.float64), np.asarray(gn.x, dtype=np.float64)
    x0 = np.zeros_like(truth)  # the recipe's start, of the net and of Gauss-Newton
    comparison = paired_comparison(truth, x_net, x_gn)
    metrics = {name: summarize(torch.as_tensor(x), torch.as_tensor(truth))
               for name, x in (("net", x_net), ("gn", x_gn), ("x0", x0))}
    plot_training(history, comparison["gn_mse"], out_dir / "run/loss.png",
                  f"LPGD-RMA training: {recipe.name}, {n_train} signals, {epochs} epochs")
    plot_examples(truth, x_gn, x_net, out_dir / "examples.png",
                  f"{recipe.name} test signals: Gauss-Newton vs the learned LPGD-RMA "
                  f"(mean MSE {comparison['gn_mse']:.3g} vs {comparison['net_mse']:.3g})")
    plot_reconstructions(truth, x_net, out_dir / "reconstruction.png",
                         f"invtools reconstruct data/test.h5 --model run/best.pt ({recipe.name})")
    summary = {"problem": {"preset": recipe.name, "description": recipe.description,
                           "train": n_train, "val": min(n_test, 128), "test": n_test},
               "comparison": comparison,
               "gn_settings": GN_SETTINGS,
               "test_mse": metrics["net"]["mse"], "test_psnr": metrics["net"]["psnr"],
               "test_mse_x0": metrics["x0"]["mse"], "test_mse_gn": metrics["gn"]["mse"],
               "test_mse_model_on_gn_subset": metrics["net"]["mse"], "gn_samples": n_test,
               "metrics": metrics,
               "seconds": {"train": sum(h["seconds"] for h in history),
                           "net_per_signal": (t1 - t0) / n_test, "gn_per_signal": (t2 - t1) / n_test},
               "train_seconds": sum(h["seconds"] for h in history), "seed": seed, "epochs": epochs,
               "files": ["data/train.h5", "data/val.h5", "data/test.h5", "train.toml", "run/best.pt",
                         "run/loss.png", "run/history.csv", "examples.png", "reconstruction.h5",
                         "reconstruction_gn.h5", "reconstruction.png"]}
    summary["real"], summary["real_skipped"] = [], real[1]
    for desc, folder in real[0]:
        methods, files = demo_methods(desc), tuple(desc["samples"]["files"])
        labels, seconds = reconstruct_targets(folder, methods, files, device=desc.name)
        figure = f"real_{desc.name}.png"
        plot_label_grid(labels, out_dir / figure, real_data_title(desc, len(methods)),
                        tuple(desc["segmentation"]["classes"]))
        summary["real"].append({"device": desc.name, "description": desc["device"]["description"],
                                "folder": str(folder), "files": list(files), "seconds": seconds,
                                "figure": figure})
        summary["files"].append(figure)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary
