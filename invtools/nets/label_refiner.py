"""A learned fine labelling of a tank model's coarse image: 256 x 256 labels in the device
frame.

The tank models image 32 x 32 pixels; cutting that image by fixed levels gives labels in
8-pixel blocks. :class:`LabelRefiner` learns the device's labels at 256 x 256 instead: its
input is ``log(sigma / sigma0)`` interpolated bilinearly to ``mid`` x ``mid``, the disk's
indicator and the levels rule's two class indicators on that image (so it starts from what the
rule sees); its output three class logits (water, resistive, conductive) at ``mid`` x ``mid``,
interpolated to the frame. It is trained by cross-entropy against the exact fine truth of
simulated phantoms (the study script that the shipped model's TOML under ``invtools/models/``
names) and stored in the model's checkpoint (``label_refiner``: its config and weights), where
:class:`~invtools.training.TrainedModel` finds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from invtools.analysis.segmentation import (
    CALIBRATED_LEVEL,
    CONDUCTIVE,
    RESISTIVE,
    inside_frame_disk,
    segment_levels,
)

FRAME = 256  # the challenge's label image


class LabelRefiner(torch.nn.Module):
    """Fully convolutional: features (B, 4, mid, mid) -> class logits (B, 3, 256, 256)."""

    def __init__(self, channels: int = 16, mid: int = 128, level: float = CALIBRATED_LEVEL):
        super().__init__()
        if channels < 1 or mid < 8 or mid > FRAME or level <= 0:
            raise ValueError(f"label refiner: channels {channels} (>= 1), mid {mid} (8..{FRAME}) and "
                             f"level {level} (> 0) out of range")
        self.channels, self.mid, self.level = channels, mid, float(level)
        c = channels
        self.layers = torch.nn.Sequential(
            torch.nn.Conv2d(4, c, 5, padding=2), torch.nn.ReLU(),
            torch.nn.Conv2d(c, c, 5, padding=2), torch.nn.ReLU(),
            torch.nn.Conv2d(c, c, 3, padding=2, dilation=2), torch.nn.ReLU(),
            torch.nn.Conv2d(c, 3, 1))

    def features(self, x: np.ndarray, sigma0: float) -> torch.Tensor:
        """Input (B, 4, mid, mid) from images x (B, N, N) in S/m (the tank's image model: row
        index growing with y) around the water's sigma0 (S/m)."""
        x = np.asarray(x, dtype=np.float64)
        contrast = np.log(np.maximum(x, 1e-6) / sigma0)[:, ::-1].copy()  # frame order: row 0 on top
        up = F.interpolate(torch.as_tensor(contrast, dtype=torch.float32)[:, None],
                           size=(self.mid, self.mid), mode="bilinear", align_corners=False)
        inside = torch.as_tensor(inside_frame_disk(self.mid), dtype=torch.float32)
        rule = torch.as_tensor(segment_levels(up.numpy(), self.level))  # the levels rule's classes
        return torch.cat([up, inside.expand(len(x), 1, self.mid, self.mid), (rule == CONDUCTIVE).float(),
                          (rule == RESISTIVE).float()], dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 3, 256, 256) of features (B, 4, mid, mid)."""
        return F.interpolate(self.layers(features), size=(FRAME, FRAME), mode="bilinear",
                             align_corners=False)

    @torch.no_grad()
    def labels(self, x: np.ndarray, sigma0: float) -> np.ndarray:
        """Label images (B, 256, 256) uint8 (0 water, 1 resistive, 2 conductive; water outside
        the tank) of images x (B, N, N) in S/m."""
        param = next(self.parameters())
        logits = self(self.features(x, sigma0).to(param))
        out = logits.argmax(dim=1).cpu().numpy().astype(np.uint8)
        out[:, ~inside_frame_disk(FRAME)] = 0
        return out

    def config(self) -> dict[str, Any]:
        """What :func:`refiner_from_record` rebuilds the architecture from."""
        return {"channels": self.channels, "mid": self.mid, "level": self.level}


def refiner_record(refiner: LabelRefiner) -> dict[str, Any]:
    """The checkpoint entry ``label_refiner``: config and weights (tensors only)."""
    state = {k: v.detach().cpu() for k, v in refiner.state_dict().items()}
    return {"config": refiner.config(), "state": state}


def refiner_from_record(record: dict[str, Any]) -> LabelRefiner:
    """The :class:`LabelRefiner` of a checkpoint entry (eval mode); a malformed entry raises
    ValueError/KeyError/TypeError (the loader names the file)."""
    cfg = record["config"]
    if not isinstance(cfg, dict) or set(cfg) != {"channels", "mid", "level"}:
        raise ValueError(f"label_refiner config must have channels, mid and level, got {cfg!r}")
    refiner = LabelRefiner(int(cfg["channels"]), int(cfg["mid"]), float(cfg["level"]))
    refiner.load_state_dict(record["state"])
    return refiner.eval()
