"""``invtools train CONFIG.toml``: a training run described by a TOML file.

```toml
out = "runs/blur1d"            # checkpoints, logs and plots (relative to this file)

[data]
train = "train.h5"             # from `invtools generate`
val = "val.h5"                 # or: val_fraction = 0.1 (random split of train)

[net]
arch = "lpgd"                  # lpgd | lpd
steps = 10
direction = "rma"              # none | momentum | rma | conv_rma
hidden = 32
direction_kwargs = { hidden = 128 }   # optional: RMA width, layers, residual, with_gradient
direction_source = "dual"      # lpd only: dual (J^T h_0) | data_fit (J^T (A(f_0) - y))

[train]                        # any TrainConfig field
epochs = 20
batch_size = 32
lr = 2e-3
seed = 0
```
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from invtools.data import H5Dataset
from invtools.data.h5file import DataFileError
from invtools.geometry import input_adjacency
from invtools.nets import DIRECTIONS, LPD, LPGD
from invtools.output_paths import check_outputs
from invtools.training import TrainConfig, Trainer
from invtools.validation import check_choice, check_float, check_int

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NET_DEFAULTS: dict[str, Any] = {"arch": "lpgd", "steps": 10, "direction": "rma", "hidden": 32,
                                "shared_weights": False, "detach_physics": False,
                                "checkpointing": False, "n_primal": 5, "n_dual": 5,
                                "direction_kwargs": {}, "direction_source": "dual"}
DATA_DEFAULTS: dict[str, Any] = {"train": None, "val": None, "val_fraction": 0.1}


def load_run_config(path: str | Path) -> dict[str, Any]:
    """Parse and validate a training config; data and output paths become absolute."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such training config")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(raw) - {"out", "data", "net", "train"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown}")
    sections = {"data": DATA_DEFAULTS, "net": NET_DEFAULTS,
                "train": {f.name: f.default for f in fields(TrainConfig) if f.name != "extra"}}
    cfg: dict[str, Any] = {}
    for name, defaults in sections.items():
        given = raw.get(name, {})
        bad = sorted(set(given) - set(defaults))
        if bad:
            raise ValueError(f"{path}: [{name}] unknown key(s) {bad}; known: {sorted(defaults)}")
        cfg[name] = {**defaults, **given}
    if cfg["net"]["arch"] not in ("lpgd", "lpd"):
        raise ValueError(f"{path}: [net] arch must be lpgd or lpd, got {cfg['net']['arch']!r}")
    if not isinstance(cfg["net"]["direction_kwargs"], dict):
        raise ValueError(f"{path}: [net] direction_kwargs must be a table, e.g. "
                         "direction_kwargs = { hidden = 32 }")
    if cfg["net"]["arch"] == "lpgd" and cfg["net"]["direction_source"] != "dual":
        raise ValueError(f"{path}: [net] direction_source is an LPD option (LPGD's direction "
                         "module always reads the data-fit gradient)")
    n = cfg["net"]
    try:
        for key in ("steps", "hidden", "n_primal", "n_dual"):
            check_int(key, n[key], 1)
        check_choice("direction", n["direction"], tuple(DIRECTIONS))
        for key in ("shared_weights", "detach_physics", "checkpointing"):
            check_choice(key, n[key], (True, False))
    except ValueError as err:
        raise ValueError(f"{path}: [net] {err}") from None
    try:
        check_float("val_fraction", cfg["data"]["val_fraction"], strict=True, maximum=0.9)
        TrainConfig(**cfg["train"])
    except ValueError as err:
        section = "data" if "val_fraction" in str(err) else "train"
        raise ValueError(f"{path}: [{section}] {err}") from None
    if not cfg["data"]["train"]:
        raise ValueError(f"{path}: [data] train (an HDF5 data set) is required")
    base = path.resolve().parent
    for key in ("train", "val"):
        if cfg["data"][key]:
            cfg["data"][key] = str(base / cfg["data"][key])
    cfg["out"] = str(base / raw.get("out", "run"))
    return cfg


def build_from_config(cfg: dict[str, Any], progress: bool = True) -> Trainer:
    """Data sets, operator, network and trainer of a parsed config."""
    train = H5Dataset(cfg["data"]["train"])
    if cfg["data"]["val"]:
        val = H5Dataset(cfg["data"]["val"])
        for key in ("operator", "parametrization"):
            if json.dumps(val.attrs[key], sort_keys=True) != json.dumps(train.attrs[key], sort_keys=True):
                raise DataFileError(f"{val.path}: {key} differs from the training set {train.path}")
    else:
        train, val = train.split(cfg["data"]["val_fraction"], seed=cfg["train"]["seed"])
    op = train.operator()
    adjacency = input_adjacency(op)
    n = cfg["net"]
    torch.manual_seed(cfg["train"]["seed"])  # the initial weights follow from the seed
    common = {"direction": n["direction"], "hidden": n["hidden"], "adjacency": adjacency,
              "detach_physics": n["detach_physics"], "checkpointing": n["checkpointing"],
              "direction_kwargs": n["direction_kwargs"] or None}
    try:
        if n["arch"] == "lpgd":
            net = LPGD(op.in_shape, steps=n["steps"], shared_weights=n["shared_weights"], **common)
        else:
            net = LPD(op.in_shape, op.out_shape, steps=n["steps"], n_primal=n["n_primal"],
                      n_dual=n["n_dual"], direction_source=n["direction_source"], **common)
    except TypeError as err:  # an unknown direction option
        raise ValueError(f"[net] direction_kwargs {n['direction_kwargs']} do not fit direction "
                         f"{n['direction']!r}: {err}") from None
    tcfg = TrainConfig(**cfg["train"])
    metadata = {"run_config": cfg, "recipe": train.attrs["recipe"],
                "parametrization": train.parametrization,
                "physical_operator": train.attrs["operator"],
                "train_data": {"path": str(train.path), "seed": train.attrs["seed"],
                               "rows": len(train)}}
    return Trainer(net, op, train, val, tcfg, out_dir=cfg["out"], adjacency=adjacency,
                   progress=progress, metadata=metadata)


def run_training(config_path: str | Path, resume: bool = False,
                 progress: bool = True) -> tuple[Trainer, list[dict[str, float]]]:
    """Train as configured; ``resume`` continues from ``out/last.pt`` (same config required)."""
    cfg = load_run_config(config_path)
    out = Path(cfg["out"])
    written = ("last.pt", "best.pt", "history.json", "history.csv", "loss.png", "run_config.json")
    check_outputs({name: out / name for name in written},
                  [config_path, cfg["data"]["train"], cfg["data"]["val"]], overwrite=True)
    if resume:
        saved = out / "run_config.json"
        if not saved.exists():
            raise FileNotFoundError(f"nothing to resume in {out} (no run_config.json)")
        old = json.loads(saved.read_text())
        if old != cfg:
            raise ValueError(f"{config_path} differs from the run saved in {out}; --resume needs the "
                             "same config")
    elif (out / "last.pt").exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it, "
                              "or choose another out")
    trainer = build_from_config(cfg, progress)
    if trainer.out_dir is not None:
        from invtools.atomic import atomic_path

        with atomic_path(out / "run_config.json") as tmp:
            tmp.write_text(json.dumps(cfg, indent=1))
    history = trainer.fit(resume=resume)
    return trainer, history

