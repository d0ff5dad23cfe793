import math

import numpy as np
import pytest
import torch

from forward_models.eit import Electrodes, disk_mesh
from invtools.analysis.metrics import (
    dynamic_range,
    mesh_ssim,
    psnr,
    relative_error,
    ssim,
    summarize,
    total_variation,
)
from invtools.nets import element_adjacency


def test_psnr_known_value():
    ref = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    x = ref + 0.1
    assert float(psnr(x, ref)) == pytest.approx(20.0)  # range 1, MSE 0.01


def test_relative_error_and_dynamic_range():
    ref = torch.tensor([[3.0, 4.0]])
    assert float(relative_error(torch.zeros_like(ref), ref)) == pytest.approx(1.0)
    assert float(dynamic_range(0.5 * ref, ref)) == pytest.approx(50.0)


@pytest.mark.parametrize("shape", [(4, 64), (3, 24, 24)])
def test_ssim_is_one_for_identical_and_drops_with_noise(shape):
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(*shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ssim(ref, ref), torch.ones(shape[0], dtype=torch.float64))
    small = ssim(ref + 0.05 * torch.randn(*shape, generator=g, dtype=torch.float64), ref)
    large = ssim(ref + 0.5 * torch.randn(*shape, generator=g, dtype=torch.float64), ref)
    assert torch.all(small < 1) and torch.all(large < small)


def test_mesh_ssim_and_mesh_tv():
    mesh = disk_mesh(Electrodes.equally_spaced(8, 0.5, 0.1), 0.2)
    A = element_adjacency(mesh.t)
    ref = torch.as_tensor(np.random.default_rng(0).random((2, mesh.t.shape[1])))
    torch.testing.assert_close(mesh_ssim(ref, ref, A), torch.ones(2, dtype=torch.float64))
    assert torch.all(mesh_ssim(ref + 0.3 * torch.randn_like(ref), ref, A) < 0.95)
    assert float(total_variation(torch.ones(2, mesh.t.shape[1]), A)) == 0.0
    assert float(total_variation(ref, A)) > 0


def test_summary_keys():
    ref = torch.rand(2, 53)
    s = summarize(ref, ref)
    assert s["mse"] == 0 and s["relative_error"] == 0 and s["ssim"] == pytest.approx(1.0)
    assert math.isfinite(s["psnr"])
