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

[net.output_layer]             # optional: a constrained output (invtools.nets.output_layers)
type = "labeling"              # labeling | softmax | box | bounded_mass
levels = [0.0, 0.5, 1.0]       # labeling/softmax: one level per class (network variable)
beta = 0.05                    # the labelling LP's neighbour smoothness
tau = 10.0                     # LPGD step (relative to the largest loss gradient)

[train]                        # any TrainConfig field
loss = "hamming"               # mse | hamming | cross_entropy (label losses need a label output)
init_from = "../runs/x/best.pt"  # optional: start from this checkpoint's weights (e.g. a regression net)
epochs = 20
batch_size = 32
lr = 2e-3
seed = 0
```

``[net]`` options left out take the network classes' own defaults, the same as in Python
(:func:`invtools.nets.net_defaults`: LPGD 20 steps, LPD 10, no direction module, 32 hidden).
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtools.data import H5Dataset
from invtools.data.h5file import DataFileError
from invtools.nets import build_net_from_config, net_config
from invtools.operators.geometry import input_adjacency
from invtools.support.output_paths import check_outputs
from invtools.support.validation import check_float, check_int
from invtools.training.trainer import TrainConfig, Trainer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA_DEFAULTS: dict[str, Any] = {"train": None, "val": None, "val_fraction": 0.1,
                                 "train_samples": 0}  # 0: all; N: the first N of the file


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
    sections = {"data": DATA_DEFAULTS,
                "train": {f.name: f.default for f in fields(TrainConfig) if f.name != "extra"}}
    cfg: dict[str, Any] = {}
    for name, defaults in sections.items():
        given = raw.get(name, {})
        bad = sorted(set(given) - set(defaults))
        if bad:
            raise ValueError(f"{path}: [{name}] unknown key(s) {bad}; known: {sorted(defaults)}")
        cfg[name] = {**defaults, **given}
    try:  # one set of defaults: the network classes' own (invtools.nets.net_defaults)
        cfg["net"] = net_config(raw.get("net", {}))
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
    for section, key, what in (("data", "train", "an HDF5 data set"), ("data", "val", "an HDF5 data set"),
                               ("train", "init_from", "a checkpoint"), (None, "out", "a folder")):
        value = (raw if section is None else cfg[section]).get(key)
        if value is not None and not isinstance(value, str):
            where = key if section is None else f"[{section}] {key}"
            raise ValueError(f"{path}: {where} = {value!r}: expected the path of {what} "
                             "(a quoted string)")
    base = path.resolve().parent
    for key in ("train", "val"):
        if cfg["data"][key]:
            cfg["data"][key] = str(base / cfg["data"][key])
    if cfg["train"]["init_from"]:
        cfg["train"]["init_from"] = str(base / cfg["train"]["init_from"])
    cfg["out"] = str(base / raw.get("out", "run"))
    return cfg


def build_from_config(cfg: dict[str, Any], progress: bool = True) -> Trainer:
    """Data sets, operator, network and trainer of a parsed config."""
    train = H5Dataset(cfg["data"]["train"])
    n = check_int("train_samples", cfg["data"]["train_samples"], 0)
    if n:
        if n > len(train):
            raise ValueError(f"[data] train_samples = {n}: {train.path} has {len(train)}")
        train = H5Dataset(cfg["data"]["train"], indices=np.arange(n))
    if cfg["data"]["val"]:
        val = H5Dataset(cfg["data"]["val"])
        for key in ("operator", "parametrization"):
            if json.dumps(val.attrs[key], sort_keys=True) != json.dumps(train.attrs[key], sort_keys=True):
                raise DataFileError(f"{val.path}: {key} differs from the training set {train.path}")
    else:
        train, val = train.split(cfg["data"]["val_fraction"], seed=cfg["train"]["seed"])
    op = train.operator()
    adjacency = input_adjacency(op)
    torch.manual_seed(cfg["train"]["seed"])  # the initial weights follow from the seed
    net = build_net_from_config(cfg["net"], op.in_shape, op.out_shape, adjacency)
    if cfg["train"]["init_from"]:
        load_backbone(net, cfg["train"]["init_from"])
    tcfg = TrainConfig(**cfg["train"])
    metadata = {"run_config": cfg, "recipe": train.attrs["recipe"],
                "parametrization": train.parametrization,
                "physical_operator": train.attrs["operator"],
                "train_data": {"path": str(train.path), "seed": train.attrs["seed"],
                               "rows": len(train)}}
    return Trainer(net, op, train, val, tcfg, out_dir=cfg["out"], adjacency=adjacency,
                   progress=progress, metadata=metadata)


def load_backbone(net: torch.nn.Module, path: str | Path) -> None:
    """Start ``net`` from the weights of the checkpoint at ``path`` (read without running code
    from it), by :func:`fit_backbone`."""
    from invtools.training.checkpoint import load_checkpoint, malformed_record

    ckpt = load_checkpoint(path)
    with malformed_record(path, "network weights"):
        fit_backbone(net, ckpt["model"], f"[train] init_from = {path}")


def fit_backbone(net: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """Load ``weights`` (a state dict) into ``net``: every weight must fit, and only ``net``'s
    output layer and the parts it names in ``fresh_prefixes`` may be missing (they keep their
    fresh start), e.g. a regression net under a labelling head, or a U-Net under its physics
    refinement (:class:`~invtools.nets.refined.RefinedUNet`); ``source`` names the weights in
    the error."""
    fresh = ("output_layer.", *getattr(net, "fresh_prefixes", ()))
    keys = net.load_state_dict({k: v for k, v in weights.items() if not k.startswith("output_layer.")},
                               strict=False)
    missing = [k for k in keys.missing_keys if not k.startswith(fresh)]
    if missing or keys.unexpected_keys:
        raise ValueError(f"{source}: its network does not fit this one "
                         f"(missing {missing[:3]}, unexpected {keys.unexpected_keys[:3]})")


def run_training(config_path: str | Path, resume: bool = False,
                 progress: bool = True) -> tuple[Trainer, list[dict[str, float]]]:
    """Train as configured; ``resume`` continues from ``out/last.pt`` (same config required)."""
    cfg = load_run_config(config_path)
    out = Path(cfg["out"])
    written = ("last.pt", "best.pt", "history.json", "history.csv", "loss.png", "run_config.json")
    check_outputs({name: out / name for name in written},
                  [config_path, cfg["data"]["train"], cfg["data"]["val"], cfg["train"]["init_from"]],
                  overwrite=True)
    for key in ("train", "val"):  # a missing input is named before an existing output
        if cfg["data"][key] and not Path(cfg["data"][key]).is_file():
            raise DataFileError(f"{cfg['data'][key]}: no such file ([data] {key} of {config_path})")
    if resume:
        saved = out / "run_config.json"
        if not saved.exists():
            raise FileNotFoundError(f"nothing to resume in {out} (no run_config.json)")
        try:
            old = json.loads(saved.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError(f"{saved}: not valid JSON (truncated?), so the run cannot be checked "
                             "against the config; train into another out instead of --resume") from None
        if old != cfg:
            raise ValueError(f"{config_path} differs from the run saved in {out}; --resume needs the "
                             "same config")
    elif (out / "last.pt").exists():
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it, "
                              "or choose another out")
    trainer = build_from_config(cfg, progress)
    if trainer.out_dir is not None:
        from invtools.support.atomic import atomic_path

        with atomic_path(out / "run_config.json") as tmp:
            tmp.write_text(json.dumps(cfg, indent=1))
    history = trainer.fit(resume=resume)
    return trainer, history

