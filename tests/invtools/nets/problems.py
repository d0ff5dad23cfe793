"""Small problem instances shared by the network tests."""

import torch

from forward_models.blur import ImageBlur2D, QuadraticWindowBlur
from forward_models.eit import CEMForward, Electrodes
from forward_models.eit.pixel_grid import PixelCEMForward
from invtools.nets import element_adjacency
from invtools.operators.composition import log_parametrized


def _eit():
    # Driving electrodes excluded: with all L adjacent differences the measurements sum to zero
    # identically, which makes the last LPD dual bias structurally gradient-free.
    return CEMForward.on_disk(Electrodes.equally_spaced(8, 0.5, 0.05), 0.3,
                              exclude_driving=True)


# EIT networks work on log-conductivity s (sigma = exp(s)), so iterates stay admissible.


def problem(name: str):
    """(operator, x, y, x0, adjacency) for a small instance of each problem family."""
    g = torch.Generator().manual_seed(0)
    adjacency = None
    if name == "blur1d":
        op = QuadraticWindowBlur(a=2.0)
        x = torch.rand(3, 53, generator=g)
        x0 = torch.zeros_like(x)
    elif name == "blur2d":
        op = ImageBlur2D((12, 12), a=0.5, blur_width=1.0)
        x = torch.rand(2, 12, 12, generator=g)
        x0 = torch.zeros_like(x)
    elif name == "eit_mesh":
        cem = _eit()
        op = log_parametrized(cem)
        adjacency = element_adjacency(cem.mesh.t)
        x = torch.rand(2, op.n_in, generator=g)
        x0 = torch.zeros_like(x)
    elif name == "eit_pixels":
        op = log_parametrized(PixelCEMForward(_eit(), 8))
        x = torch.rand(2, 8, 8, generator=g)
        x0 = torch.zeros_like(x)
    else:
        raise ValueError(name)
    with torch.no_grad():
        y = op(x)
    return op, x, y, x0, adjacency
