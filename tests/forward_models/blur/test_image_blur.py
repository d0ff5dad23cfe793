import json

import numpy as np
import pytest
import torch
from scipy import ndimage, signal

from forward_models.blur import ImageBlur2D, gaussian_kernel
from invtools import check_operator

ASYMMETRIC = np.array([[0.0, 1.0, 2.0], [0.5, 3.0, 0.0], [0.0, 0.0, 1.5]])


def test_gaussian_kernel_normalised():
    k = gaussian_kernel(1.5)
    assert k.shape == (11, 11) and k.sum() == pytest.approx(1) and k[5, 5] == k.max()


@pytest.mark.parametrize("kernel", [None, ASYMMETRIC])
def test_zero_boundary_matches_scipy_convolution(kernel):
    op = ImageBlur2D((17, 23), a=0.8, blur_width=1.2, kernel=kernel, boundary="zero")
    x = torch.rand(2, 17, 23, dtype=torch.float64)
    for b in range(2):
        z = signal.convolve2d(x[b].numpy(), op.kernel, mode="same", boundary="fill")
        np.testing.assert_allclose(op(x)[b].numpy(), z + 0.8 * z**2, atol=1e-12)


@pytest.mark.parametrize("kernel", [None, ASYMMETRIC])
def test_periodic_boundary_matches_wrap_convolution(kernel):
    op = ImageBlur2D((16, 12), a=0.0, blur_width=1.0, kernel=kernel, boundary="periodic")
    x = torch.rand(1, 16, 12, dtype=torch.float64)
    z = ndimage.convolve(x[0].numpy(), op.kernel, mode="wrap")
    np.testing.assert_allclose(op(x)[0].numpy(), z, atol=1e-12)


@pytest.mark.parametrize("boundary", ["zero", "periodic"])
@pytest.mark.parametrize("a", [0.0, 0.5, 3.0])
def test_check_operator(a, boundary):
    op = ImageBlur2D((12, 10), a=a, kernel=ASYMMETRIC, boundary=boundary)
    report = check_operator(op, torch.randn(2, 12, 10, dtype=torch.float64))
    assert report.fd_rel_error < 1e-6 and report.adjoint_rel_error < 1e-6


def test_float32_and_device(device):
    op = ImageBlur2D((32, 32), a=0.5)
    x = torch.rand(4, 32, 32, dtype=torch.float64, device=device)
    y32 = op(x.float())
    assert y32.dtype == torch.float32 and y32.device.type == device.type
    torch.testing.assert_close(y32.double(), op(x), rtol=1e-5, atol=1e-6)


def test_config_round_trip_with_user_kernel():
    op = ImageBlur2D((9, 9), a=0.3, kernel=ASYMMETRIC, boundary="periodic")
    op2 = ImageBlur2D.from_config(json.loads(json.dumps(op.config())))
    x = torch.rand(2, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(op(x), op2(x), rtol=0, atol=0)


@pytest.mark.parametrize("kwargs", [{"boundary": "reflect"}, {"kernel": np.ones((2, 3))},
                                    {"shape": (4, 4), "blur_width": 2.0}, {"blur_width": -1.0}])
def test_invalid_configuration(kwargs):
    with pytest.raises(ValueError):
        ImageBlur2D(**kwargs)
