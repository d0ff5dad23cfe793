"""Learned post-processing: a small U-Net that corrects an initial reconstruction, the approach
of a tomography challenge winner (a U-Net on the one-step linearised reconstruction).

``x = x0 + UNet(x0)`` on 2-D images (B, H, W), H and W divisible by ``2 ** levels``. It has the
reconstructors' signature ``forward(y, op, x0)`` but never calls the physics: ``y`` and ``op``
are ignored, so it is as fast as its convolutions and is the baseline that the unrolled nets,
which see the data at every step, must beat.
"""

from __future__ import annotations

import torch
from torch import nn

from invtools.nets.base import UnrolledNet
from invtools.operators import Operator

Tensor = torch.Tensor


def _double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.PReLU(out_ch),
                         nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.PReLU(out_ch))


class PostProcessUNet(UnrolledNet):
    """U-Net with ``levels`` poolings; ``hidden`` channels at the top, doubled per level.

    With ``mask_input`` the net also sees which data values exist (NaN in y marks a missing
    one): the mask (m,) enters through a linear embedding that shifts the features of every
    level (a per-channel bias, zero for complete data), so one net serves any set of missing
    electrodes or values, and x0 is expected to be made from the kept values only.

    Args:
        in_shape: (H, W) image shape (``op.in_shape``).
        levels: number of 2x down-samplings.
        hidden: channels of the first level.
        mask_input: condition on the data mask (needs ``out_shape``, the data shape).
        output_layer: a constrained output (:mod:`invtools.nets.output_layers`).
    """

    def __init__(self, in_shape: tuple[int, ...], levels: int = 2, hidden: int = 32,
                 adjacency=None, detach_physics: bool = False, checkpointing: bool = False,
                 output_layer: dict | None = None, mask_input: bool = False,
                 out_shape: tuple[int, ...] | None = None):
        if adjacency is not None or len(in_shape) != 2:
            raise ValueError(f"the U-Net needs 2-D images, not samples of shape {tuple(in_shape)}"
                             + (" on a mesh" if adjacency is not None else ""))
        if any(n % 2**levels for n in in_shape):
            raise ValueError(f"image shape {tuple(in_shape)} is not divisible by 2**levels = {2**levels}")
        arch = {"net": "unet", "in_shape": list(in_shape), "levels": levels, "hidden": hidden}
        if mask_input:
            if out_shape is None:
                raise ValueError("mask_input needs the data shape out_shape")
            arch.update(mask_input=True, out_shape=list(out_shape))
        super().__init__(arch, detach_physics, checkpointing, output_layer)
        self.in_shape = tuple(in_shape)
        widths = [hidden * 2**k for k in range(levels + 1)]
        self.widths = widths
        self.mask_embedding = (nn.Linear(int(torch.tensor(out_shape).prod()), sum(widths))
                               if mask_input else None)
        if self.mask_embedding is not None:
            nn.init.zeros_(self.mask_embedding.bias)  # complete data: no shift
        self.down = nn.ModuleList([_double_conv(1, widths[0])] +
                                  [_double_conv(widths[k], widths[k + 1]) for k in range(levels)])
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2)
                                for k in reversed(range(levels)))
        self.merge = nn.ModuleList(_double_conv(2 * widths[k], widths[k]) for k in reversed(range(levels)))
        self.head = nn.Conv2d(widths[0], 1, 1)
        with torch.no_grad():  # start close to the identity map x -> x0
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    def _shifts(self, y: Tensor) -> list[Tensor | None]:
        """Per-level feature shifts (B, C_k, 1, 1) from the data mask (None without mask input)."""
        if self.mask_embedding is None:
            return [None] * len(self.widths)
        missing = (~torch.isfinite(y)).reshape(y.shape[0], -1).to(self.mask_embedding.weight.dtype)
        shifts = self.mask_embedding(missing)  # the missing values' indicator: 0 for complete data
        return [t[:, :, None, None] for t in torch.split(shifts, self.widths, dim=1)]

    def iterate(self, y: Tensor, op: Operator, x0: Tensor) -> Tensor:
        h = x0.unsqueeze(1)
        shifts = self._shifts(y)
        skips = []
        for k, block in enumerate(self.down):
            h = block(h if k == 0 else nn.functional.max_pool2d(h, 2))
            h = h if shifts[k] is None else h + shifts[k]
            skips.append(h)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            h = merge(torch.cat([up(h), skip], dim=1))
        return x0 + self._maybe_checkpoint(self.head, h).squeeze(1)
