"""What every reconstruction network shares: ``forward(y, op, x0) -> x``, an architecture
record (``arch``, stored in checkpoints), physics calls that can be detached, and optional
activation checkpointing."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

Tensor = torch.Tensor


def _rms(t: Tensor) -> Tensor:
    """Per-sample root mean square, shaped to broadcast against t, detached."""
    return t.detach().reshape(t.shape[0], -1).pow(2).mean(dim=1).sqrt().clamp_min(1e-12).reshape(
        -1, *([1] * (t.dim() - 1)))


class UnrolledNet(nn.Module):
    """Shared machinery: architecture record, physics calls, optional activation checkpointing."""

    def __init__(self, arch: dict[str, Any], detach_physics: bool, checkpointing: bool):
        super().__init__()
        self.arch = arch
        self.detach_physics = detach_physics
        self.checkpointing = checkpointing

    def _maybe_checkpoint(self, fn, *args):
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def _physics(self, fn, *args):
        if self.detach_physics:
            with torch.no_grad():
                return fn(*(a.detach() for a in args))
        return fn(*args)
