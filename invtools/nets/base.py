"""What every reconstruction network shares: ``forward(y, op, x0) -> x``, an architecture
record (``arch``, stored in checkpoints), physics calls that can be detached, optional
activation checkpointing, and the constrained sub-problems a net can embed
(:mod:`invtools.nets.output_layers`): an output layer and a per-step constraint."""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from invtools.nets.output_layers import (
    LABEL_TYPES,
    PROJECTION_TYPES,
    check_layer_config,
    make_output_layer,
    make_step_constraint,
)

Tensor = torch.Tensor


def _rms(t: Tensor) -> Tensor:
    """Per-sample root mean square, shaped to broadcast against t, detached."""
    return t.detach().reshape(t.shape[0], -1).pow(2).mean(dim=1).sqrt().clamp_min(1e-12).reshape(
        -1, *([1] * (t.dim() - 1)))


class UnrolledNet(nn.Module):
    """Shared machinery: architecture record, physics calls, optional activation checkpointing,
    output layer and step constraint. Subclasses implement :meth:`iterate` and call
    :meth:`constrain` on every iterate."""

    def __init__(self, arch: dict[str, Any], detach_physics: bool, checkpointing: bool,
                 output_layer: dict[str, Any] | None = None,
                 step_constraint: dict[str, Any] | None = None,
                 adjacency: sp.spmatrix | None = None):
        super().__init__()
        output_layer = check_layer_config(output_layer, LABEL_TYPES + PROJECTION_TYPES, "output_layer")
        step_constraint = check_layer_config(step_constraint, PROJECTION_TYPES, "step_constraint")
        layers = {"output_layer": output_layer, "step_constraint": step_constraint}
        self.arch = {**arch, **{k: v for k, v in layers.items() if v is not None}}
        self.detach_physics = detach_physics
        self.checkpointing = checkpointing
        self.output_layer = make_output_layer(output_layer, tuple(arch["in_shape"]), adjacency)
        self.step_constraint = make_step_constraint(step_constraint)

    @property
    def label_levels(self) -> list[float] | None:
        """The levels of a labelling or softmax output layer (its classes, in order), else None."""
        layer = self.arch.get("output_layer")
        return layer["levels"] if layer is not None and layer["type"] in LABEL_TYPES else None

    def iterate(self, y: Tensor, op, x0: Tensor) -> Tensor:
        """The network's reconstruction (B, *in_shape) before its output layer."""
        raise NotImplementedError

    def forward(self, y: Tensor, op, x0: Tensor, assignment: bool = False):
        """x (B, *in_shape); with ``assignment`` also the output layer's class assignment
        z (B, *in_shape, K) (None without a labelling or softmax output layer)."""
        x = self.iterate(y, op, x0)
        z = None
        if self.output_layer is not None:
            x, z = self.output_layer(x)
        return (x, z) if assignment else x

    def constrain(self, x: Tensor) -> Tensor:
        """The iterate projected by the step constraint (unchanged without one)."""
        return x if self.step_constraint is None else self.step_constraint(x)[0]

    def _maybe_checkpoint(self, fn, *args):
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def _physics(self, fn, *args):
        if self.detach_physics:
            with torch.no_grad():
                return fn(*(a.detach() for a in args))
        return fn(*args)
