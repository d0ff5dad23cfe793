"""Device names as users give them (``auto``, ``cpu``, ``cuda``, ``cuda:N``) made torch devices."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """The torch device of a device name: ``"auto"`` is CUDA when available, else CPU; any other
    name is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
