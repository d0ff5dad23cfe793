"""Constrained sub-problems inside a network: an *output layer* that turns the last iterate into
a segmentation or an admissible image, and a *step constraint* that projects every iterate.

Configured by a table (Python dict or TOML ``[net.output_layer]`` / ``[net.step_constraint]``)
that is stored in the network's ``arch`` record, so checkpoints rebuild them:

- ``type = "labeling"``: the labelling LP (:class:`~invtools.solver_layers.LabelingLP`) with
  neighbour smoothness ``beta``, over K known ``levels`` (in the network's variable, e.g.
  log-conductivity); ``backward`` = ``lpgd`` (``variant``, ``tau``), ``dbb`` or ``implicit``.
  The output image is ``levels @ z``, every element exactly at one level.
- ``type = "softmax"``: the same class scores, relaxed by a softmax (trained with
  cross-entropy); the output image is the level of the most likely class.
- ``type = "box"`` (``lower``, ``upper``), ``"bounded_mass"`` (``lower``, ``upper``,
  ``mass``): Euclidean projections with the LPGD backward pass (``tau``, ``variant``).

Class scores of an element with value x: ``s_k = b_k - exp(w) (x - c_k)^2``, with c_k (started
at the levels), w and b_k learned: the nearest level wins before training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from invtools.operators.geometry import difference_matrix
from invtools.solver_layers import BACKWARDS, VARIANTS, BoundedMassProjection, BoxProjection, LabelingLP
from invtools.support.validation import check_choice, check_float

Tensor = torch.Tensor

LABEL_TYPES = ("labeling", "softmax")
PROJECTION_TYPES = ("box", "bounded_mass")
OUTPUT_DEFAULTS: dict[str, dict[str, Any]] = {
    "labeling": {"levels": None, "beta": 0.1, "backward": "lpgd", "variant": "right", "tau": 1.0,
                 "relative_tau": True},
    "softmax": {"levels": None},
    "box": {"lower": None, "upper": None, "tau": 1e-3, "variant": "right"},
    "bounded_mass": {"lower": None, "upper": None, "mass": None, "tau": 1e-3, "variant": "right"},
}


def check_layer_config(config: dict[str, Any] | None, allowed: tuple[str, ...],
                       what: str) -> dict[str, Any] | None:
    """``config`` with defaults filled in; unknown types, keys and bad values are refused."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise ValueError(f"{what} must be a table, e.g. {{ type = \"{allowed[0]}\", ... }}")
    kind = config.get("type")
    check_choice(f"{what} type", kind, allowed)
    defaults = OUTPUT_DEFAULTS[kind]
    unknown = sorted(set(config) - set(defaults) - {"type", "classes"})
    if unknown:
        raise ValueError(f"{what} ({kind}): unknown key(s) {unknown}; known: {sorted(defaults)}")
    merged = {"type": kind, **defaults, **{k: v for k, v in config.items() if k not in ("type", "classes")}}
    missing = sorted(k for k, v in merged.items() if v is None)
    if missing:
        raise ValueError(f"{what} ({kind}) needs {missing}")
    if kind in LABEL_TYPES:
        levels = merged["levels"]
        if not (isinstance(levels, list) and len(levels) >= 2 and
                all(isinstance(v, int | float) and np.isfinite(v) for v in levels)):
            raise ValueError(f"{what} levels = {levels!r}: need a list of at least 2 numbers")
        if len(set(levels)) != len(levels):
            raise ValueError(f"{what} levels = {levels!r}: must differ")
        if "classes" in config and config["classes"] != len(levels):
            raise ValueError(f"{what}: classes = {config['classes']} but {len(levels)} levels")
        merged["levels"] = [float(v) for v in levels]
    if kind == "labeling":
        check_float(f"{what} beta", merged["beta"])
        check_choice(f"{what} backward", merged["backward"], BACKWARDS)
    if "tau" in merged:
        check_float(f"{what} tau", merged["tau"], strict=True)
        check_choice(f"{what} variant", merged["variant"], VARIANTS)
    if kind in PROJECTION_TYPES and merged["lower"] > merged["upper"]:
        raise ValueError(f"{what}: lower = {merged['lower']} > upper = {merged['upper']}")
    return merged


def neighbour_adjacency(shape: tuple[int, ...], adjacency: sp.spmatrix | None) -> sp.csr_matrix:
    """0/1 adjacency (n, n) of neighbouring entries: mesh elements sharing an edge, else the
    1-D path or the 2-D 4-neighbour grid (:func:`invtools.operators.geometry.difference_matrix`)."""
    D = abs(difference_matrix(shape, adjacency))
    A = (D.T @ D).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    return (A > 0).astype(np.float64).tocsr()


def level_labels(x: Tensor, levels: Tensor | list[float]) -> Tensor:
    """Class index of every entry of x (B, *shape): its nearest level (long, same shape)."""
    levels = torch.as_tensor(levels, dtype=x.dtype, device=x.device)
    return torch.argmin((x.unsqueeze(-1) - levels).abs(), dim=-1)


class LabelOutput(nn.Module):
    """Class scores of the last iterate, assigned by the labelling LP or relaxed by a softmax.

    ``forward(x)`` with x (B, *shape) returns ``(image, z)``: the labelled image (B, *shape) at
    the levels, and the assignment z (B, *shape, K) (LP solution or softmax probabilities)."""

    def __init__(self, config: dict[str, Any], shape: tuple[int, ...], adjacency: sp.spmatrix | None):
        super().__init__()
        levels = torch.tensor(config["levels"], dtype=torch.float64)
        self.register_buffer("levels", levels.float())
        self.centres = nn.Parameter(levels.float().clone())
        gap = float(np.diff(np.sort(config["levels"])).min())
        self.log_weight = nn.Parameter(torch.tensor(float(np.log(4.0 / gap**2))))  # score gap ~1 at mid-gap
        self.bias = nn.Parameter(torch.zeros(len(levels)))
        self.shape, self.kind = tuple(shape), config["type"]
        self.lp = None
        if self.kind == "labeling":
            self.lp = LabelingLP(neighbour_adjacency(self.shape, adjacency), len(levels), beta=config["beta"],
                                 tau=config["tau"], backward=config["backward"], variant=config["variant"],
                                 relative_tau=config["relative_tau"])

    def scores(self, x: Tensor) -> Tensor:
        """(B, *shape, K): ``b_k - exp(w) (x - c_k)^2``."""
        return self.bias - self.log_weight.exp() * (x.unsqueeze(-1) - self.centres) ** 2

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s = self.scores(x)
        if self.lp is not None:
            B = x.shape[0]
            z = self.lp(s.reshape(B, -1, s.shape[-1])).reshape(s.shape)
            return z @ self.levels.to(z.dtype), z
        z = torch.softmax(s, dim=-1)
        return self.levels.to(z.dtype)[z.argmax(dim=-1)], z


class ProjectionOutput(nn.Module):
    """An admissible image: the projection of x (B, *shape) onto a box or a box with a known
    total, per sample, with the LPGD backward pass. ``forward(x)`` returns ``(image, None)``."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        kw = {"tau": config["tau"], "variant": config["variant"]}
        if config["type"] == "box":
            self.project = BoxProjection(config["lower"], config["upper"], **kw)
        else:
            self.project = BoundedMassProjection(config["lower"], config["upper"], config["mass"], **kw)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        return self.project(x.reshape(x.shape[0], -1)).reshape(x.shape), None


def make_output_layer(config: dict[str, Any] | None, shape: tuple[int, ...],
                      adjacency: sp.spmatrix | None) -> nn.Module | None:
    """The output layer of a checked config (:func:`check_layer_config`), or None."""
    if config is None:
        return None
    if config["type"] in LABEL_TYPES:
        return LabelOutput(config, shape, adjacency)
    return ProjectionOutput(config)


def make_step_constraint(config: dict[str, Any] | None) -> nn.Module | None:
    """The projection applied to every iterate (a box or a bounded mass), or None."""
    return None if config is None else ProjectionOutput(config)
