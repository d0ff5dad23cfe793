"""Learned proximal gradient descent (LPGD): ``x_{k+1} = x_k + Lambda_k([x_k, d_k])`` with the
direction module's output d_k for the data-fit gradient ``J(x_k)^T (A(x_k) - y)`` of every step
(:mod:`invtools.nets.unrolled` registers it with the other networks)."""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import nn

from invtools.nets.base import UnrolledNet, _rms
from invtools.nets.blocks import ResidualBlock, spatial_kind
from invtools.nets.directions import direction_channels, make_direction
from invtools.operators import Operator

Tensor = torch.Tensor

GRADIENT_BOUND = 10.0  # soft bound c on the normalised gradient: c tanh(g / c)


def _bounded(g: Tensor, scale: Tensor, log_step: Tensor) -> Tensor:
    """``c tanh(exp(log_step) g scale / c)``: the gradient in units of ``1 / scale`` (the first
    gradient's rms), times a learned step, softly bounded by c = GRADIENT_BOUND."""
    return GRADIENT_BOUND * torch.tanh(g * scale * log_step.exp() / GRADIENT_BOUND)


class LPGD(UnrolledNet):
    """``x_{k+1} = x_k + Lambda_k([x_k, d_k])``, d_k from the direction module applied to the
    scaled data-fit gradient ``c tanh(exp(s_k) g_k / (c rms(g_0)))``: normalised by the first
    gradient's size, with a learned per-step scale and a soft bound c = 10 that keeps a
    diverging iterate from blowing up training.

    Args:
        in_shape: sample shape of x (``op.in_shape``).
        steps: number of unrolled steps T.
        direction: ``none``, ``momentum``, ``rma`` or ``conv_rma``.
        hidden: channels of the residual blocks.
        shared_weights: one Lambda for all steps instead of one per step.
        adjacency: element adjacency for mesh samples (enables graph convolutions).
        detach_physics: do not backpropagate through the physics.
        checkpointing: recompute each step in the backward pass to save memory.
        direction_kwargs: passed to the direction module (e.g. ``hidden``, ``layers``).
        output_layer, step_constraint: constrained sub-problems
            (:mod:`invtools.nets.output_layers`), e.g. ``{"type": "labeling", "levels": [...]}``.
    """

    def __init__(self, in_shape: tuple[int, ...], steps: int = 20, direction: str = "none",
                 hidden: int = 32, shared_weights: bool = False,
                 adjacency: sp.spmatrix | None = None, detach_physics: bool = False,
                 checkpointing: bool = False, direction_kwargs: dict | None = None,
                 output_layer: dict | None = None, step_constraint: dict | None = None):
        arch = {"net": "lpgd", "in_shape": list(in_shape), "steps": steps,
                "direction": direction, "hidden": hidden, "shared_weights": shared_weights,
                "direction_kwargs": direction_kwargs or {}}
        super().__init__(arch, detach_physics, checkpointing, output_layer, step_constraint, adjacency)
        self.in_shape, self.steps = tuple(in_shape), steps
        kind = spatial_kind(self.in_shape, adjacency)
        n_blocks = 1 if shared_weights else steps
        d_ch = direction_channels(direction, direction_kwargs)
        self.blocks = nn.ModuleList(ResidualBlock(kind, 1 + d_ch, 1, hidden, adjacency)
                                    for _ in range(n_blocks))
        self.log_step = nn.Parameter(torch.zeros(steps))
        self.direction = make_direction(direction, self.in_shape, kind, adjacency,
                                        **(direction_kwargs or {}))

    def _step(self, k: int, x: Tensor, d: Tensor) -> Tensor:
        block = self.blocks[0 if len(self.blocks) == 1 else k]
        return x + block(torch.cat([x.unsqueeze(1), d], dim=1)).squeeze(1)

    def iterate(self, y: Tensor, op: Operator, x0: Tensor) -> Tensor:
        x, state, scale = x0, None, None
        for k in range(self.steps):
            _, g = self._physics(op.data_fit_gradient, x, y)
            scale = 1.0 / _rms(g) if scale is None else scale
            d, state = self.direction(_bounded(g, scale, self.log_step[k]), state)
            x = self.constrain(self._maybe_checkpoint(self._step, k, x, d))
        return x
