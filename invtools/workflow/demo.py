"""``invtools demo``: the whole workflow, small, on the 1-D nonlinear blur of the RMA paper.

1. ``generate`` blur1d-rma: 1024 training and 128 test signals (HDF5);
2. ``train`` an LPGD network with recurrent momentum acceleration (RMA), 10 steps, for 20
   epochs (about 20 s on 2 CPU cores; config written to ``train.toml``);
3. ``evaluate`` it against Gauss-Newton on the test set (table and example figure);
4. ``reconstruct`` the test file with the trained model (HDF5 and figure);
5. the real KTC2023 water tank, if its measurements are found: one target at levels 1, 3, 5
   and 7 (electrodes removed) by the organisers' baseline, Gauss-Newton and the shipped tank
   model (``--model ktc2023``), side by side in ``tank.png`` (about 20 s).
Everything goes into one folder. An existing folder is refused unless ``overwrite``; then the
old folder is moved aside while the new one is built, and removed once it is complete (an error
or Ctrl-C puts the old one back), so the folder is never a mix of two runs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from invtools.analysis.plotting import plot_grid, plot_label_grid
from invtools.data import generate
from invtools.data.recipes import load_recipe
from invtools.support.atomic import atomic_path
from invtools.training.config import run_training
from invtools.workflow.evaluate import evaluate
from invtools.workflow.reconstruct import reconstruct, write_reconstruction
from invtools.workflow.reconstruct.ktc2023 import find_ktc_folder
from invtools.workflow.reconstruct.result import label_images

TANK_LEVELS = (1, 3, 5, 7)  # the demo's tank figure: one target as electrodes are removed
TRAIN_CONFIG = """# written by `invtools demo`; run it yourself with `invtools train {path}`
out = "run"

[data]
train = "data/train.h5"
val = "data/test.h5"

[net]
arch = "lpgd"
steps = 10
direction = "rma"
hidden = 32

[train]
epochs = {epochs}
batch_size = 32
lr = 5e-3
lr_schedule = "cosine"
grad_clip = 1.0
seed = {seed}
"""

WHY_GN_WINS = ("Gauss-Newton wins on this toy at the demo's budget: its smoothness prior "
               "describes these random-walk signals and the discrepancy principle sets its "
               "weight, and 12 noisy values per signal leave little for a learned prior to add; "
               "with 10x the data and 18 epochs LPGD-RMA beats it by 3-4% (docs/results.md)")


def reconstruct_targets(folder: str | Path, methods: dict[str, str | Path | None],
                        files: tuple[str, ...] = ("data1.mat", "data2.mat", "data3.mat", "data4.mat")
                        ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
    """Label images (256, 256) of the tank's measurement files (relative to ``folder``, e.g.
    ``levels/level5/data2.mat``) by every method (name -> ``gn``/``linearized``/``baseline`` or
    a model path/name), and each method's mean seconds per file."""
    labels: dict[str, dict[str, np.ndarray]] = {name: {} for name in files}
    seconds = dict.fromkeys(methods, 0.0)
    for name in files:
        for method, how in methods.items():
            t0 = time.perf_counter()
            classical = how in ("gn", "linearized", "baseline")
            rec = reconstruct(Path(folder) / name, model=None if classical else how,
                              method=how if classical else "model")
            labels[name][method] = label_images(rec)[0]
            seconds[method] += (time.perf_counter() - t0) / len(files)
    return labels, seconds


def verdict(summary: dict) -> str:
    """One line comparing the net with Gauss-Newton on the samples both ran on."""
    net, gn = summary["test_mse_model_on_gn_subset"], summary["test_mse_gn"]
    if net < gn:
        return f"the net beats Gauss-Newton by {100 * (gn - net) / gn:.1f}% (test MSE on the same samples)"
    return f"the net is {100 * (net - gn) / gn:.1f}% behind Gauss-Newton. {WHY_GN_WINS}"


def run_demo(out_dir: str | Path, n_train: int = 1024, n_test: int = 128, epochs: int = 20,
             seed: int = 0, progress: bool = True, ktc: str | Path | None = None,
             overwrite: bool = False) -> dict:
    """Generate, train, evaluate, reconstruct; then the real tank (``ktc``: its folder, default
    found by :func:`find_ktc_folder`, ``"none"`` to skip). Returns the summary written to
    ``metrics.json``. An existing ``out_dir`` is refused unless ``overwrite`` (module docstring)."""
    out_dir = Path(out_dir)
    with replacing(out_dir, overwrite):
        return _run(out_dir, n_train, n_test, epochs, seed, progress, ktc)


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


def _run(out_dir: Path, n_train: int, n_test: int, epochs: int, seed: int, progress: bool,
         ktc: str | Path | None) -> dict:
    recipe = load_recipe("blur1d-rma")
    generate(recipe, out_dir / "data/train.h5", n_train, seed=2 * seed, progress=progress)
    generate(recipe, out_dir / "data/test.h5", n_test, seed=2 * seed + 1, progress=progress)
    config = out_dir / "train.toml"
    with atomic_path(config) as tmp:
        tmp.write_text(TRAIN_CONFIG.format(path=config, epochs=epochs, seed=seed))
    _, history = run_training(config, progress=progress)
    result = evaluate(out_dir / "run/best.pt", out_dir / "data/test.h5", baseline="gn",
                      baseline_samples=32, out_dir=out_dir / "eval")
    rec = reconstruct(out_dir / "data/test.h5", model=out_dir / "run/best.pt")
    write_reconstruction(rec, out_dir / "reconstruction.h5")
    plot_grid({"truth": rec.truth, "LPGD-RMA": rec.x}, out_dir / "reconstruction.png",
              title="test signals: truth and LPGD-RMA reconstruction")
    m = result["metrics"]
    summary = {"test_mse": m["model"]["mse"], "test_psnr": m["model"]["psnr"],
               "test_mse_x0": m["x0"]["mse"], "test_mse_gn": m["gn"]["mse"],
               "test_mse_model_on_gn_subset": m[f"model (first {m['gn']['n']})"]["mse"],
               "gn_samples": m["gn"]["n"],
               "train_seconds": sum(h["seconds"] for h in history), "seed": seed, "epochs": epochs,
               "files": ["data/train.h5", "data/test.h5", "train.toml", "run/best.pt", "run/loss.png",
                         "run/history.csv", "eval/metrics.json", "eval/examples.png",
                         "reconstruction.h5", "reconstruction.png"]}
    folder = None if str(ktc) == "none" else Path(ktc) if ktc is not None else find_ktc_folder()
    if folder is not None:
        methods = {"organisers' baseline": "baseline", "Gauss-Newton + levels": "gn",
                   "shipped model (ktc2023)": "ktc2023"}
        files = {f"target 2, level {v}": "data2.mat" if v == 1 else f"levels/level{v}/data2.mat"
                 for v in TANK_LEVELS if v == 1 or (folder / "levels" / f"level{v}").is_dir()}
        labels, seconds = reconstruct_targets(folder, methods, tuple(files.values()))
        labels = {row: labels[name] for row, name in files.items()}
        plot_label_grid(labels, out_dir / "tank.png",
                        "KTC2023 tank, real data, one target as electrodes are removed (level L: "
                        "1..2(L-1)): water (light), resistive (blue), conductive (red)")
        summary["tank"] = {"folder": str(folder), "seconds": seconds,
                           "levels": [int(row.rsplit(" ", 1)[1]) for row in files]}
        summary["files"].append("tank.png")
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary
