"""2-D nonlinear image blur ``y = k * x + a (k * x)^2`` for batches of grayscale images.

The convolution is done with real FFTs.  ``boundary="periodic"`` is circular convolution;
``boundary="zero"`` zero-pads by the kernel radius first and crops afterwards, which equals a
linear "same" convolution with zero boundary.  Writing ``L`` for the linear blur and
``z = L x``, the derivatives are exact and cheap:

    J v = (1 + 2 a z) * L v,     J^T w = L^T ((1 + 2 a z) * w),     d/dx <w, J u> = L^T (2 a w L u)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from forward_models.blur.config_check import config_array, config_value
from invtools.operators import Operator, register_operator
from invtools.support.deprecation import renamed_keyword

Tensor = torch.Tensor


def gaussian_kernel(sigma: float, size: int | None = None) -> np.ndarray:
    """Normalised isotropic Gaussian kernel ``(size, size)``; ``size`` odd, default ``2*ceil(3 sigma)+1``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    size = size or 2 * int(np.ceil(3 * sigma)) + 1
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    t = np.arange(size) - size // 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


@register_operator
class ImageBlur2D(Operator):
    """Nonlinear blur of ``(B, H, W)`` images, output ``(B, H, W)``.

    Args:
        shape: image shape ``(H, W)``.
        a: nonlinearity (``a = 0`` is the linear blur).
        blur_width: standard deviation (pixels) of the Gaussian kernel, used when ``kernel`` is
            None (default 1.5; ``sigma`` is its deprecated former name; configs keep ``sigma``).
        kernel: user kernel ``(kh, kw)`` with odd sides, centred.
        boundary: ``"periodic"`` or ``"zero"``.
    """

    has_hvp = True

    def __init__(self, shape: tuple[int, int] = (64, 64), a: float = 0.5, blur_width: float | None = None,
                 kernel: np.ndarray | None = None, boundary: str = "zero", *, sigma: float | None = None):
        sigma = renamed_keyword(blur_width, sigma, "sigma", "blur_width")
        sigma = 1.5 if sigma is None else sigma
        if boundary not in ("periodic", "zero"):
            raise ValueError(f"boundary must be 'periodic' or 'zero', got {boundary!r}")
        k = gaussian_kernel(sigma) if kernel is None else np.asarray(kernel, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
            raise ValueError(f"kernel must be 2-D with odd sides, got shape {k.shape}")
        H, W = int(shape[0]), int(shape[1])
        if k.shape[0] > H or k.shape[1] > W:
            raise ValueError(f"kernel {k.shape} is larger than the image {(H, W)}")
        self.shape, self.a, self.sigma, self.boundary = (H, W), float(a), float(sigma), boundary
        self.user_kernel = kernel is not None
        self.kernel = k
        self.pad = (k.shape[0] // 2, k.shape[1] // 2) if boundary == "zero" else (0, 0)
        self.in_shape = self.out_shape = (H, W)
        self._cache: dict[tuple, Tensor] = {}

    def _kernel_fft(self, like: Tensor) -> Tensor:
        """rfft2 of the kernel, centred at the origin of the (padded) grid."""
        key = (like.device, like.dtype)
        if key not in self._cache:
            H, W = self.shape[0] + 2 * self.pad[0], self.shape[1] + 2 * self.pad[1]
            kh, kw = self.kernel.shape
            grid = np.zeros((H, W))
            grid[:kh, :kw] = self.kernel
            grid = np.roll(grid, (-(kh // 2), -(kw // 2)), axis=(0, 1))
            self._cache[key] = torch.fft.rfft2(torch.as_tensor(grid, dtype=like.dtype,
                                                               device=like.device))
        return self._cache[key]

    def _apply_linear(self, x: Tensor, adjoint: bool = False) -> Tensor:
        """``L x`` (or ``L^T x``): zero-pad, circular (cross-)correlate via FFT, crop."""
        py, px = self.pad
        K = self._kernel_fft(x)
        if adjoint:
            K = K.conj()
        xp = torch.nn.functional.pad(x, (px, px, py, py)) if py or px else x
        out = torch.fft.irfft2(torch.fft.rfft2(xp) * K, s=xp.shape[-2:])
        return out[..., py:py + self.shape[0], px:px + self.shape[1]]

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self._apply_linear(x)
        return torch.addcmul(z, z, z, value=self.a), z  # z + a z^2 in one pass

    def _jvp(self, x: Tensor, z: Tensor, v: Tensor) -> Tensor:
        lv = self._apply_linear(v)
        return torch.addcmul(lv, lv, z, value=2 * self.a)

    def _vjp(self, x: Tensor, z: Tensor, w: Tensor) -> Tensor:
        return self._apply_linear(torch.addcmul(w, w, z, value=2 * self.a), adjoint=True)

    def _hvp(self, x: Tensor, z: Tensor, w: Tensor, u: Tensor) -> Tensor:
        return self._apply_linear(2 * self.a * w * self._apply_linear(u), adjoint=True)

    def config(self) -> dict[str, Any]:
        cfg = {"type": type(self).__name__, "shape": list(self.shape), "a": self.a,
               "sigma": self.sigma, "boundary": self.boundary}
        if self.user_kernel:
            cfg["kernel"] = self.kernel.tolist()
        return cfg

    @classmethod
    def example(cls) -> ImageBlur2D:
        return cls((16, 14), a=0.5, blur_width=1.5)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ImageBlur2D:
        kernel = config_array(cfg, "kernel", ndim=2) if "kernel" in cfg else None
        shape = cfg.get("shape")
        if not (isinstance(shape, list) and len(shape) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
            raise ValueError(f"operator config 'shape' = {shape!r}: expected [H, W], two integers >= 1")
        boundary = config_value(cfg, "boundary", str)
        if boundary not in ("periodic", "zero"):
            raise ValueError(f"operator config 'boundary' = {boundary!r}: expected 'zero' or 'periodic'")
        return cls(shape=tuple(shape), a=config_value(cfg, "a", float, 0),
                   blur_width=config_value(cfg, "sigma", float, 0), kernel=kernel, boundary=boundary)
