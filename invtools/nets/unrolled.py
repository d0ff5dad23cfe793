"""Unrolled reconstructors: learned proximal gradient descent (LPGD) and learned primal-dual
(LPD), with pluggable direction modules (plain gradient, momentum, RMA, convolutional RMA).

Both take ``(y, op, x0)`` for any :class:`~invtools.operators.Operator`: y (B, *op.out_shape),
x0 (B, *op.in_shape), and return x (B, *op.in_shape).  Physics enters only through the
operator: the data-fit gradient ``J(x)^T (A(x) - y)`` (LPGD) or ``A(f)`` and ``J(f)^T h``
(LPD), computed with the operator's own VJP so that training backpropagates through the
physics (second-order terms included).  ``detach_physics=True`` treats those as inputs
(the cheaper variant of the RMA paper's code).
"""

from __future__ import annotations

import inspect
from typing import Any

import scipy.sparse as sp
import torch
from torch import nn

from invtools.nets.base import UnrolledNet, _rms
from invtools.nets.blocks import ResidualBlock, spatial_kind
from invtools.nets.directions import DIRECTIONS, direction_channels, make_direction
from invtools.nets.lpgd import LPGD, _bounded
from invtools.nets.output_layers import LABEL_TYPES, PROJECTION_TYPES, check_layer_config
from invtools.nets.postprocess import PostProcessUNet
from invtools.nets.refined import RefinedUNet
from invtools.operators import Operator
from invtools.support.validation import check_choice, check_int

Tensor = torch.Tensor


DIRECTION_SOURCES = ("dual", "data_fit")
class LPD(UnrolledNet):
    """Learned primal-dual: T steps of
    ``h <- h + Gamma_k([h, A(f_1) / s, y / s])`` and ``f <- f + Lambda_k([f, d_k])``,
    d_k from the direction module applied to ``J(f_0)^T h_0`` (normalised to unit rms per
    step, times a learned step scale); output f_0.
    ``s`` is the per-sample rms of y, so the dual network sees data of unit size.

    ``direction_source="data_fit"`` feeds the direction module the data-fit gradient
    ``g_k = J(f_0)^T (A(f_0) - y)`` instead (scaled as in :class:`LPGD`, so its history keeps
    its decay from step to step), and gives the primal block ``[f, J(f_0)^T h_0, d_k]``: RMA
    then turns the history of data-fit gradients into a momentum beside the learned dual
    direction.  It costs one more forward and VJP per step.

    ``step_constraint`` projects the output channel f_0 after every primal step;
    ``output_layer`` acts on the final f_0 (:mod:`invtools.nets.output_layers`).
    """

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], steps: int = 10,
                 n_primal: int = 5, n_dual: int = 5, direction: str = "none", hidden: int = 32,
                 adjacency: sp.spmatrix | None = None, detach_physics: bool = False,
                 checkpointing: bool = False, direction_kwargs: dict | None = None,
                 direction_source: str = "dual", output_layer: dict | None = None,
                 step_constraint: dict | None = None):
        if direction_source not in DIRECTION_SOURCES:
            raise ValueError(f"unknown direction_source {direction_source!r}; choose from "
                             f"{DIRECTION_SOURCES}")
        arch = {"net": "lpd", "in_shape": list(in_shape), "out_shape": list(out_shape),
                "steps": steps, "n_primal": n_primal, "n_dual": n_dual, "direction": direction,
                "hidden": hidden, "direction_kwargs": direction_kwargs or {},
                "direction_source": direction_source}
        super().__init__(arch, detach_physics, checkpointing, output_layer, step_constraint, adjacency)
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.steps, self.n_primal, self.n_dual = steps, n_primal, n_dual
        kind = spatial_kind(self.in_shape, adjacency)
        data_kind = spatial_kind(self.out_shape, None)
        self.direction_source = direction_source
        d_ch = direction_channels(direction, direction_kwargs)
        d_ch += direction_source == "data_fit"
        self.primal = nn.ModuleList(ResidualBlock(kind, n_primal + d_ch, n_primal, hidden,
                                                  adjacency) for _ in range(steps))
        self.dual = nn.ModuleList(ResidualBlock(data_kind, n_dual + 2, n_dual, hidden)
                                  for _ in range(steps))
        self.log_step = nn.Parameter(torch.zeros(steps))
        if direction_source == "data_fit":
            self.log_gradient_step = nn.Parameter(torch.zeros(steps))
        self.direction = make_direction(direction, self.in_shape, kind, adjacency,
                                        **(direction_kwargs or {}))

    def _direction(self, k: int, a: Tensor, op: Operator, f0: Tensor, y: Tensor, state,
                   scale: Tensor | None):
        """Direction input of primal step k from ``a = J(f_0)^T h_0`` (and, for
        ``direction_source="data_fit"``, the data-fit gradient at f_0)."""
        a = a / _rms(a) * self.log_step[k].exp()
        if self.direction_source == "dual":
            d, state = self.direction(a, state)
            return d, state, scale
        _, g = self._physics(op.data_fit_gradient, f0, y)
        scale = 1.0 / _rms(g) if scale is None else scale
        m, state = self.direction(_bounded(g, scale, self.log_gradient_step[k]), state)
        return torch.cat([a.unsqueeze(1), m], dim=1), state, scale

    def _primal_step(self, k: int, f: Tensor, d: Tensor) -> Tensor:
        f = f + self.primal[k](torch.cat([f, d], dim=1))
        if self.step_constraint is None:
            return f
        return torch.cat([self.constrain(f[:, 0]).unsqueeze(1), f[:, 1:]], dim=1)

    def _dual_step(self, k: int, dual_iterate: Tensor, Af: Tensor, y: Tensor) -> Tensor:
        return dual_iterate + self.dual[k](torch.cat([dual_iterate, Af.unsqueeze(1), y.unsqueeze(1)], dim=1))

    def iterate(self, y: Tensor, op: Operator, x0: Tensor) -> Tensor:
        kept = torch.isfinite(y).to(x0.dtype)  # NaN marks a missing value: zero in A(f), y and h
        y_filled = torch.nan_to_num(y)
        s = _rms(y_filled)
        f = x0.unsqueeze(1).repeat(1, self.n_primal, *([1] * len(self.in_shape)))
        dual_iterate = y.new_zeros(y.shape[0], self.n_dual, *self.out_shape)  # the paper's h
        state = scale = None
        for k in range(self.steps):
            Af = self._physics(op.A, f[:, 1 % self.n_primal]) * kept
            dual_iterate = self._maybe_checkpoint(self._dual_step, k, dual_iterate, Af / s, y_filled / s)
            a = self._physics(op.A_vjp, f[:, 0], dual_iterate[:, 0] * kept)
            d, state, scale = self._direction(k, a, op, f[:, 0], y, state, scale)
            f = self._maybe_checkpoint(self._primal_step, k, f, d)
        return f[:, 0]


NETS = {"lpgd": LPGD, "lpd": LPD, "unet": PostProcessUNet, "unet_lpgd": RefinedUNet}
_GEOMETRY = ("self", "in_shape", "out_shape", "adjacency")


def net_defaults(arch: str) -> dict[str, Any]:
    """The options of network ``arch`` (``lpgd``, ``lpd``, ``unet`` or ``unet_lpgd``) with their
    defaults.

    The class signature is the one place defaults live: Python, training configs and the
    benchmarks all build through :func:`build_net_from_config`. LPGD: T = 20 steps, LPD: T = 10
    (the RMA paper's), no direction module (``direction = "rma"`` for RMA), 32 hidden channels;
    the post-processing U-Net: 2 levels, 32 channels; the U-Net refined by 5 LPGD steps.
    """
    if arch not in NETS:
        raise ValueError(f"arch = {arch!r}: must be one of {sorted(NETS)}")
    params = inspect.signature(NETS[arch].__init__).parameters
    return {name: p.default for name, p in params.items() if name not in _GEOMETRY}


def net_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (``{"arch": ..., option: value}``) with every option of its arch filled in from
    :func:`net_defaults`; unknown options and values of the wrong type or range are refused."""
    if not isinstance(config, dict):
        raise ValueError("the net config must be a table")
    options = dict(config)
    arch = options.pop("arch", "lpgd")
    defaults = net_defaults(arch)
    for key in options:
        if key not in defaults:
            other = [a for a in NETS if a != arch and key in net_defaults(a)]
            raise ValueError(f"{key} is an {other[0].upper()} option, not an {arch.upper()} one" if other
                             else f"unknown option {key!r}; {arch} takes {sorted(defaults)}")
    merged = {"arch": arch, **defaults, **options}
    for key in ("steps", "hidden", "n_primal", "n_dual", "refine_hidden"):
        if key in merged:
            check_int(key, merged[key], 1)
    for key in ("levels",):
        if key in merged:
            check_int(key, merged[key], 0)
    if "direction" in merged:
        check_choice("direction", merged["direction"], tuple(DIRECTIONS))
    layers = {"output_layer": LABEL_TYPES + PROJECTION_TYPES, "step_constraint": PROJECTION_TYPES}
    for key, allowed in layers.items():
        if key in merged:
            check_layer_config(merged[key], allowed, key)  # refused here, before any data is read
    for key in ("shared_weights", "detach_physics", "checkpointing", "mask_input", "freeze_unet"):
        if key in merged and not isinstance(merged[key], bool):
            raise ValueError(f"{key} = {merged[key]!r}: must be true or false")
    if merged.get("direction_kwargs") is not None and not isinstance(merged["direction_kwargs"], dict):
        raise ValueError("direction_kwargs must be a table, e.g. direction_kwargs = { hidden = 32 }")
    return merged


def build_net_from_config(config: dict[str, Any], in_shape: tuple[int, ...],
                          out_shape: tuple[int, ...] | None = None,
                          adjacency: sp.spmatrix | None = None) -> UnrolledNet:
    """A network from a config table ``{"arch": "lpgd" | "lpd" | "unet", option: value, ...}`` (the
    ``[net]`` table of a training config); options left out take :func:`net_defaults`."""
    options = net_config(config)
    arch = options.pop("arch")
    shapes = {"in_shape": tuple(in_shape)}
    if arch == "lpd" or (arch in ("unet", "unet_lpgd") and options.get("mask_input")):
        if out_shape is None:
            raise ValueError(f"{arch} with these options needs the data shape out_shape")
        shapes["out_shape"] = tuple(out_shape)
    try:
        return NETS[arch](**shapes, adjacency=adjacency, **options)
    except TypeError as err:  # an unknown direction option
        raise ValueError(f"direction_kwargs {options.get('direction_kwargs')} do not fit direction "
                         f"{options.get('direction')!r}: {err}") from None


def build_net(arch: dict[str, Any], adjacency: sp.spmatrix | None = None, **kwargs) -> UnrolledNet:
    """Rebuild a network from its ``arch`` record (as stored in checkpoints)."""
    arch = dict(arch)
    cls = NETS[arch.pop("net")]
    arch["in_shape"] = tuple(arch["in_shape"])
    if "out_shape" in arch:
        arch["out_shape"] = tuple(arch["out_shape"])
    return cls(**arch, adjacency=adjacency, **kwargs)
