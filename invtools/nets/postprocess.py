"""Learned post-processing: a small U-Net that corrects an initial reconstruction, the approach
of the KTC2023 winner (a U-Net on the one-step linearised reconstruction).

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

    Args:
        in_shape: (H, W) image shape (``op.in_shape``).
        levels: number of 2x down-samplings.
        hidden: channels of the first level.
        output_layer: a constrained output (:mod:`invtools.nets.output_layers`).
    """

    def __init__(self, in_shape: tuple[int, ...], levels: int = 2, hidden: int = 32,
                 adjacency=None, detach_physics: bool = False, checkpointing: bool = False,
                 output_layer: dict | None = None):
        if adjacency is not None or len(in_shape) != 2:
            raise ValueError(f"the U-Net needs 2-D images, not samples of shape {tuple(in_shape)}"
                             + (" on a mesh" if adjacency is not None else ""))
        if any(n % 2**levels for n in in_shape):
            raise ValueError(f"image shape {tuple(in_shape)} is not divisible by 2**levels = {2**levels}")
        arch = {"net": "unet", "in_shape": list(in_shape), "levels": levels, "hidden": hidden}
        super().__init__(arch, detach_physics, checkpointing, output_layer)
        self.in_shape = tuple(in_shape)
        widths = [hidden * 2**k for k in range(levels + 1)]
        self.down = nn.ModuleList([_double_conv(1, widths[0])] +
                                  [_double_conv(widths[k], widths[k + 1]) for k in range(levels)])
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2)
                                for k in reversed(range(levels)))
        self.merge = nn.ModuleList(_double_conv(2 * widths[k], widths[k]) for k in reversed(range(levels)))
        self.head = nn.Conv2d(widths[0], 1, 1)
        with torch.no_grad():  # start close to the identity map x -> x0
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    def iterate(self, y: Tensor, op: Operator, x0: Tensor) -> Tensor:
        h = x0.unsqueeze(1)
        skips = []
        for k, block in enumerate(self.down):
            h = block(h if k == 0 else nn.functional.max_pool2d(h, 2))
            skips.append(h)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            h = merge(torch.cat([up(h), skip], dim=1))
        return x0 + self._maybe_checkpoint(self.head, h).squeeze(1)
