"""A post-processing U-Net whose image is refined by learned proximal-gradient steps on the data
fit: the U-Net's prior knowledge of shapes first, then the physics (``J^T (A(x) - y)``, the
masked data fit when y has missing values) in every refinement step.

``x = LPGD_T(y, op, UNet(y, x0))``. The U-Net part has the parameter names of
:class:`~invtools.nets.postprocess.PostProcessUNet`, so a trained U-Net's checkpoint starts it
(``[train] init_from``: only the ``refiner.`` weights are new), and ``freeze_unet`` keeps it
fixed while the refinement learns on its outputs.
"""

from __future__ import annotations

import torch

from invtools.nets.lpgd import LPGD
from invtools.nets.postprocess import PostProcessUNet
from invtools.operators import Operator

Tensor = torch.Tensor


class RefinedUNet(PostProcessUNet):
    """A U-Net, then ``steps`` LPGD steps from its output.

    Args:
        in_shape, levels, hidden, mask_input, out_shape, output_layer: the U-Net's
            (:class:`~invtools.nets.postprocess.PostProcessUNet`).
        steps: LPGD refinement steps, each with one data-fit gradient.
        direction: the refinement's direction module (``none``, ``momentum``, ``rma``,
            ``conv_rma``; :mod:`invtools.nets.directions`), with ``direction_kwargs``.
        refine_hidden: channels of each refinement step's residual block.
        freeze_unet: the U-Net's weights are not trained and its batch norms stay in
            evaluation mode.
    """

    fresh_prefixes = ("refiner.",)  # weights a U-Net checkpoint does not have (init_from)

    def __init__(self, in_shape: tuple[int, ...], levels: int = 2, hidden: int = 32,
                 adjacency=None, detach_physics: bool = False, checkpointing: bool = False,
                 output_layer: dict | None = None, mask_input: bool = False,
                 out_shape: tuple[int, ...] | None = None, steps: int = 5, direction: str = "none",
                 refine_hidden: int = 32, direction_kwargs: dict | None = None,
                 freeze_unet: bool = False):
        super().__init__(in_shape, levels, hidden, adjacency, detach_physics, checkpointing,
                         output_layer, mask_input, out_shape)
        self.refiner = LPGD(tuple(in_shape), steps=steps, direction=direction, hidden=refine_hidden,
                            detach_physics=detach_physics, checkpointing=checkpointing,
                            direction_kwargs=direction_kwargs)
        self.arch.update(net="unet_lpgd", steps=steps, direction=direction, refine_hidden=refine_hidden,
                         direction_kwargs=direction_kwargs or {}, freeze_unet=freeze_unet)
        self.freeze_unet = freeze_unet
        if freeze_unet:
            for p in self.unet_parameters():
                p.requires_grad_(False)

    def unet_parameters(self):
        """The U-Net's parameters (those a U-Net checkpoint holds)."""
        return (p for name, p in self.named_parameters()
                if not name.startswith(("refiner.", "output_layer.")))

    def train(self, mode: bool = True) -> RefinedUNet:
        """Training or evaluation mode; a frozen U-Net stays in evaluation mode."""
        super().train(mode)
        if self.freeze_unet:  # a frozen U-Net keeps its batch-norm statistics
            for name, module in self.named_children():
                if name not in ("refiner", "output_layer"):
                    module.train(False)
        return self

    def unet(self, y: Tensor, x0: Tensor) -> Tensor:
        """The U-Net's image (B, H, W), before the refinement."""
        return super().iterate(y, None, x0)

    def iterate(self, y: Tensor, op: Operator, x0: Tensor) -> Tensor:
        return self.refiner.iterate(y, op, self.unet(y, x0))
