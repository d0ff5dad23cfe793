"""A small noisy EIT problem on log-conductivity, shared by the classical-method tests."""

import pytest
import torch

from forward_models.eit import CEMForward, Electrodes
from invtools.data.phantoms import disc_phantom
from invtools.operators.composition import log_parametrized


def noisy_log_eit():
    """(op on log-conductivity, true s (1, n), noise-free data y (1, m), noise (1, m) at 1%)."""
    cem = CEMForward.on_disk(Electrodes.equally_spaced(16, 0.5, 0.01), 0.12)
    op = log_parametrized(cem)
    mid = cem.mesh.p[:, cem.mesh.t].mean(axis=1)
    s = torch.log(torch.as_tensor(disc_phantom(mid, [(0.3, 0.2, 0.3, 2.0)])))[None]
    y = op(s)
    noise = 0.01 * y.pow(2).mean().sqrt() * torch.randn(y.shape, generator=torch.Generator().manual_seed(0),
                                                         dtype=y.dtype)
    return op, s, y, noise


@pytest.fixture(scope="module")
def log_eit():
    return noisy_log_eit()
