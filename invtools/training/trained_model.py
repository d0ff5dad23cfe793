"""``TrainedModel``: a trained reconstructor and everything it needs, from one checkpoint.

    model = load_model("runs/eit/best.pt")
    x = model.predict(y)              # (B, m) data -> (B, *in_shape) images, physical units

The checkpoint records the network, the forward operator the data came from, the
parametrisation the network works in (e.g. log-conductivity), the noise level and the data
recipe, whose ``[x0]`` table says how the initial guess the network was trained from is made.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtools.data.h5file import DataFileError
from invtools.operators import Operator, operator_from_config
from invtools.operators.parametrization import from_net, net_operator, to_net
from invtools.training.checkpoint import load_checkpoint, malformed_record

Tensor = torch.Tensor
MIN_KEPT_FRACTION = 0.8  # of the fewest values the training masks keep: what a model accepts


@dataclass
class TrainedModel:
    """A trained unrolled network with its forward model.

    Attributes:
        net: the network (eval mode), mapping (y, net_operator, s0) to s in the network variable.
        operator: the physical forward operator (e.g. CEM on conductivity in S/m).
        parametrization: the network variable (``identity`` or ``log``).
        noise_level: relative noise level of the training data (None if unknown).
        recipe: the data recipe as a dict (None for checkpoints of the Python API).
        checkpoint: the raw checkpoint record.
        path: the file it was read from.
        label_refiner: a learned 256 x 256 labelling of the net's images
            (:mod:`invtools.nets.label_refiner`; the tank model's), else None.
    """

    net: torch.nn.Module
    operator: Operator
    parametrization: str
    noise_level: float | None
    recipe: dict[str, Any] | None
    checkpoint: dict[str, Any]
    path: Path | None = None
    label_refiner: torch.nn.Module | None = None

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], net: torch.nn.Module, path: Path | None = None,
                        operator: Operator | None = None) -> TrainedModel:
        """``operator``: :func:`physical_operator` of ``ckpt``, if already built."""
        meta = ckpt.get("metadata") or {}
        param = meta.get("parametrization", "identity")
        operator = physical_operator(ckpt) if operator is None else operator
        recipe = meta.get("recipe")
        noise = (recipe or {}).get("noise", {}).get("relative")
        return cls(net, operator, param, None if noise is None else float(noise), recipe, ckpt, path)

    @property
    def net_operator(self) -> Operator:
        """The operator on the network variable (``operator`` composed with the parametrisation);
        one object per operator, so that the linearised x0's Jacobian and factors are reused."""
        cached = self.__dict__.get("_net_operator")
        if cached is None or cached[0] is not self.operator:
            cached = (self.operator, net_operator(self.operator, self.parametrization))
            self.__dict__["_net_operator"] = cached
        return cached[1]

    def check_operator_config(self, config: dict[str, Any], what: str) -> None:
        """Raise :class:`DataFileError` if data whose forward model is ``config`` come from
        another forward model than the one the model was trained with."""
        if json.dumps(config, sort_keys=True) != json.dumps(self.operator.config(), sort_keys=True):
            raise DataFileError(f"{what}: its forward model differs from the one "
                                f"{self.path or 'the model'} was trained with")

    def initial_guess(self, y: Tensor | np.ndarray) -> np.ndarray:
        """The start (B, *in_shape), physical units, made as for the training data (the recipe's
        ``[x0]`` table), on the network's device; the background constant when the checkpoint
        records no recipe."""
        y = np.asarray(y.detach().cpu() if isinstance(y, Tensor) else y, dtype=np.float64)
        if self.recipe is None:
            value = 1.0 if self.parametrization == "log" else 0.0
            return np.full((y.shape[0], *self.operator.in_shape), value)
        from invtools.data.recipes import initial_guess

        device = next(self.net.parameters()).device
        return initial_guess(self.net_operator, self.parametrization, self.recipe["x0"],
                             self.noise_level or 0.0, y, device=device)

    @property
    def mask_table(self) -> dict[str, Any]:
        """The ``[mask]`` table of the training data's recipe (``{"type": "none"}``: complete data)."""
        from invtools.data.missing_data import check_mask_table

        return check_mask_table(dict((self.recipe or {}).get("mask") or {"type": "none"}))

    def fewest_values(self) -> int:
        """The fewest data values this model accepts in a sample: all of them for a model
        trained on complete data, else :data:`MIN_KEPT_FRACTION` of the fewest its training
        masks typically keep (:func:`invtools.data.missing_data.fewest_kept`: the levels' counts and
        the 1% floor of the random masks)."""
        from invtools.data.missing_data import cem_patterns, fewest_kept

        if "_fewest" not in self.__dict__:  # about 1 s (draws of the training masks): once
            table, m = self.mask_table, self.operator.n_out
            self.__dict__["_fewest"] = m if table["type"] == "none" else int(np.ceil(
                MIN_KEPT_FRACTION * fewest_kept(table, cem_patterns(self.operator.config()), m)))
        return self.__dict__["_fewest"]

    def check_mask(self, keep: np.ndarray, what: str) -> None:
        """Raise :class:`DataFileError` (one line) if a sample keeping the values ``keep``
        ((m,) or (B, m) bool) has too few for this model, or any missing for a model trained
        on complete data."""
        keep = np.atleast_2d(np.asarray(keep, dtype=bool))
        fewest, m = self.fewest_values(), keep.shape[1]
        worst = int(keep.sum(axis=1).min())
        if worst >= fewest:
            return
        name = self.path or "the model"
        if fewest == m:
            raise DataFileError(f"{what}: {m - worst} of {m} values are missing, but {name} was trained "
                                "on complete data (use a model trained with missing data, or "
                                "--method gn)")
        raise DataFileError(f"{what}: keeps {worst} of {m} values; {name} needs at least {fewest} "
                            "(its training data kept no fewer)")

    @torch.no_grad()
    def predict(self, y: Tensor | np.ndarray, x0: Tensor | np.ndarray | None = None,
                batch_size: int = 64) -> Tensor:
        """Reconstructions (B, *in_shape) in physical units (float64) from data y (B, *out_shape),
        NaN where a value is missing (refused by :meth:`check_mask` if too many are);
        ``x0`` (physical units) defaults to :meth:`initial_guess`, made from the kept values."""
        y = torch.as_tensor(np.asarray(y.detach().cpu() if isinstance(y, Tensor) else y),
                            dtype=torch.float64)
        if y.shape[1:] != tuple(self.operator.out_shape):
            raise ValueError(f"data of shape {tuple(y.shape[1:])} per sample, but the model expects "
                             f"{tuple(self.operator.out_shape)}")
        if bool(torch.isinf(y).any()):
            raise ValueError("data contain Inf")
        self.check_mask(torch.isfinite(y).reshape(y.shape[0], -1).numpy(), "the data")
        start = self.initial_guess(y) if x0 is None else np.asarray(x0, dtype=np.float64)
        s0 = torch.as_tensor(to_net(start, self.parametrization), dtype=torch.float64)
        param = next(self.net.parameters())
        op = self.net_operator
        s = torch.cat([self.net(y[i:i + batch_size].to(param), op, s0[i:i + batch_size].to(param))
                       for i in range(0, len(y), batch_size)])
        return from_net(s.double().cpu(), self.parametrization)

    @property
    def label_levels(self) -> list[float] | None:
        """The levels (network variable) of a labelling/softmax output layer, else None."""
        return getattr(self.net, "label_levels", None)

    def labels(self, x: Tensor | np.ndarray) -> np.ndarray | None:
        """Class indices (B, *in_shape) of a label net's images x (physical units, from
        :meth:`predict`): the index of each element's level; None for other nets."""
        if self.label_levels is None:
            return None
        from invtools.nets.output_layers import level_labels

        s = torch.as_tensor(to_net(np.asarray(x, dtype=np.float64), self.parametrization))
        return level_labels(s, self.label_levels).numpy()

    def __iter__(self):
        """Deprecated: ``net, op, ckpt = load_model(path)`` (the tuple of earlier versions)."""
        warnings.warn("unpacking load_model() is deprecated: use the TrainedModel's attributes "
                      "(.net, .net_operator, .checkpoint) and .predict()", DeprecationWarning,
                      stacklevel=2)
        return iter((self.net, operator_from_config(self.checkpoint["operator"]), self.checkpoint))


SHIPPED_DIR = Path(__file__).parents[1] / "models"


def shipped_models() -> list[str]:
    """Names of the trained models that come with the package (``invtools/models/NAME.pt``)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.pt"))


def resolve_model(path: str | Path) -> Path:
    """A checkpoint path, or the file of a shipped model named ``path``
    (a file stem under ``invtools/models/``) when no such file exists; a missing file's error
    lists the shipped names."""
    path = Path(path)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    if str(path) in shipped_models():
        return SHIPPED_DIR / f"{path}.pt"
    raise FileNotFoundError(f"{path}: no such checkpoint, and no shipped model of that name "
                            f"(shipped: {', '.join(shipped_models()) or 'none'})")


TRAINING_STATE = ("optimizer", "scheduler", "rng")  # what resuming needs and predicting does not


def export_model(path: str | Path, out: str | Path) -> Path:
    """Write a trainer checkpoint without its training state (optimizer, scheduler, RNG):
    what :func:`load_model` needs, at about a third of the size (how shipped models are made).
    The export loads as the original does and cannot be resumed."""
    from invtools.training.checkpoint import save_checkpoint

    ckpt = load_checkpoint(resolve_model(path))
    save_checkpoint({k: v for k, v in ckpt.items() if k not in TRAINING_STATE}, out)
    return Path(out)


def load_model(path: str | Path, adjacency: Any = None, device: str = "cpu") -> TrainedModel:
    """The :class:`TrainedModel` of a trainer checkpoint or a shipped model's name
    (:func:`resolve_model`), read without running anything from the file
    (:func:`invtools.training.checkpoint.load_checkpoint`); the network is in eval mode."""
    from invtools.nets.unrolled import build_net
    from invtools.operators.geometry import input_adjacency

    path = resolve_model(path)
    ckpt = load_checkpoint(path, map_location=device)
    with malformed_record(path, "forward operator"):
        operator = physical_operator(ckpt)  # built once: it also gives the mesh adjacency
        if adjacency is None:
            adjacency = input_adjacency(operator)
    with malformed_record(path, "network"):
        net = build_net(ckpt["arch"], adjacency=adjacency, detach_physics=ckpt.get("detach_physics", False))
        net.load_state_dict(ckpt["model"])
    refiner = None
    if ckpt.get("label_refiner") is not None:
        from invtools.nets.label_refiner import refiner_from_record

        with malformed_record(path, "label refiner"):
            refiner = refiner_from_record(ckpt["label_refiner"]).to(device)
    with malformed_record(path, "forward operator"):
        model = TrainedModel.from_checkpoint(ckpt, net.eval(), Path(path), operator)
    model.label_refiner = refiner
    return model


def physical_operator(ckpt: dict[str, Any]) -> Operator:
    """The forward operator of the data a checkpoint's net was trained on (physical units).

    When the checkpoint records it beside the net's operator, the net's operator record must be
    the physical one on the recorded parametrisation (compared as configs, not built twice)."""
    meta = ckpt.get("metadata") or {}
    physical = meta.get("physical_operator")
    if physical is None:
        return operator_from_config(ckpt["operator"])
    operator = operator_from_config(physical)
    expected = net_operator(operator, meta.get("parametrization", "identity")).config()
    if json.dumps(expected, sort_keys=True) != json.dumps(ckpt["operator"], sort_keys=True):
        raise ValueError("the net's operator record does not match the physical operator and "
                         "parametrisation recorded beside it")
    return operator
