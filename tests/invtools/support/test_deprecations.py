"""Renamed API (one release of deprecation aliases): the old names work, warn, and agree."""

import numpy as np
import pytest
import torch

from forward_models.blur import ImageBlur2D
from forward_models.eit import CEMForward, Electrodes, disk_mesh
from invtools.solver_layers import LagrangianLayer, LPGDLayer, lagrangian_gradients, lpgd_gradients

EL = Electrodes.equally_spaced(8, 0.5, 0.01)


def test_mesh_size_was_h():
    with pytest.warns(DeprecationWarning, match="keyword h= is deprecated.*mesh_size="):
        old = CEMForward.on_disk(EL, h=0.3)
    new = CEMForward.on_disk(EL, mesh_size=0.3)
    assert old.config() == new.config() == CEMForward.on_disk(EL, 0.3).config()
    with pytest.warns(DeprecationWarning):
        assert np.array_equal(disk_mesh(EL, h=0.3).p, disk_mesh(EL, 0.3).p)
    with pytest.raises(TypeError, match="pass mesh_size only"):
        CEMForward.on_disk(EL, 0.3, h=0.3)


def test_blur_width_was_sigma():
    with pytest.warns(DeprecationWarning, match="keyword sigma= is deprecated.*blur_width="):
        old = ImageBlur2D((16, 16), sigma=1.2)
    new = ImageBlur2D((16, 16), blur_width=1.2)
    assert old.config() == new.config() and new.config()["sigma"] == 1.2  # file format unchanged
    x = torch.rand(1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(old(x), new(x), rtol=0, atol=0)


def test_lagrangian_names_replace_lpgd_names():
    assert LPGDLayer.__wrapped__ is LagrangianLayer and lpgd_gradients.__wrapped__ is lagrangian_gradients
    with pytest.warns(DeprecationWarning, match="LPGDLayer is deprecated.*use LagrangianLayer"):
        try:
            LPGDLayer(None)
        except Exception:  # noqa: BLE001 (a solver of None: only the warning is under test)
            pass
