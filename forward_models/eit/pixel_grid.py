"""Exact-area maps between an N x N pixel image and the elements of a triangle mesh.

Pixel ``(i, j)`` of an image ``img[i, j]`` covers ``x in [x_j, x_{j+1}]``, ``y in [y_i, y_{i+1}]``
on the square ``[-extent, extent]^2`` (row index increases with y: plot with origin="lower").
``overlap[e, p]`` is the area of triangle e intersected with pixel p, computed exactly by
clipping the triangle against the pixel (Sutherland-Hodgman, vectorised over all pairs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from skfem import MeshTri

from forward_models.eit.forward import CEMForward
from invtools.operators import Operator, register_operator
from invtools.operators.composition import ComposedOperator, LinearOperator
from invtools.support.reused_memory import ReusedOutput


def _clip_halfplane(poly: np.ndarray, count: np.ndarray, axis: int, bound: np.ndarray,
                    sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip convex polygons (P, K, 2) with ``count`` valid vertices to sign*(p[axis]-bound) >= 0."""
    P, K, _ = poly.shape
    idx = np.arange(K)[None, :]
    valid = idx < count[:, None]
    prev_idx = np.where(idx == 0, count[:, None] - 1, idx - 1)
    prev = np.take_along_axis(poly, prev_idx[:, :, None].repeat(2, axis=2), axis=1)
    f_cur = sign * (poly[:, :, axis] - bound[:, None])
    f_prev = sign * (prev[:, :, axis] - bound[:, None])
    inside_cur, inside_prev = f_cur >= 0, f_prev >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(f_prev != f_cur, f_prev / (f_prev - f_cur), 0.0)
    cross = prev + t[:, :, None] * (poly - prev)
    emit_cross = valid & (inside_cur != inside_prev)
    emit_cur = valid & inside_cur
    cand = np.stack([cross, poly], axis=2).reshape(P, 2 * K, 2)
    mask = np.stack([emit_cross, emit_cur], axis=2).reshape(P, 2 * K)
    order = np.argsort(~mask, axis=1, kind="stable")[:, :8]
    out = np.take_along_axis(cand, order[:, :, None].repeat(2, axis=2), axis=1)
    return out, np.minimum(mask.sum(axis=1), 8)


def _polygon_area(poly: np.ndarray, count: np.ndarray) -> np.ndarray:
    K = poly.shape[1]
    idx = np.arange(K)[None, :]
    nxt = np.where(idx + 1 < count[:, None], idx + 1, 0)
    q = np.take_along_axis(poly, nxt[:, :, None].repeat(2, axis=2), axis=1)
    cross = poly[:, :, 0] * q[:, :, 1] - q[:, :, 0] * poly[:, :, 1]
    return 0.5 * np.abs(np.where(idx < count[:, None], cross, 0.0).sum(axis=1))


def pixel_overlap(mesh: MeshTri, n_pixels: int, extent: float) -> sp.csr_matrix:
    """Sparse (ne, n_pixels^2) matrix of exact triangle-pixel intersection areas."""
    edges = np.linspace(-extent, extent, n_pixels + 1)
    size = 2 * extent / n_pixels
    tri = mesh.p[:, mesh.t].transpose(2, 1, 0)  # (ne, 3, 2)
    lo = np.clip(np.floor((tri.min(axis=1) + extent) / size).astype(int), 0, n_pixels - 1)
    hi = np.clip(np.floor((tri.max(axis=1) + extent) / size).astype(int), 0, n_pixels - 1)
    nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    n_cand = nx * ny
    elem = np.repeat(np.arange(tri.shape[0]), n_cand)
    k = np.arange(n_cand.sum()) - np.repeat(np.cumsum(n_cand) - n_cand, n_cand)
    jx = lo[elem, 0] + k % nx[elem]
    iy = lo[elem, 1] + k // nx[elem]
    poly = np.zeros((elem.size, 8, 2))
    poly[:, :3] = tri[elem]
    count = np.full(elem.size, 3)
    for axis, bound, sign in ((0, edges[jx], 1.0), (0, edges[jx + 1], -1.0),
                              (1, edges[iy], 1.0), (1, edges[iy + 1], -1.0)):
        poly, count = _clip_halfplane(poly, count, axis, bound, sign)
    area = _polygon_area(poly, count)
    keep = area > 0
    return sp.csr_matrix((area[keep], (elem[keep], iy[keep] * n_pixels + jx[keep])),
                         shape=(tri.shape[0], n_pixels * n_pixels))


def pixels_to_elements(overlap: sp.csr_matrix) -> sp.csr_matrix:
    """(ne, N^2) map: each element's conductivity is the area average of the pixels over it."""
    areas = np.asarray(overlap.sum(axis=1)).ravel()
    return sp.diags(1.0 / areas) @ overlap


def elements_to_pixels(overlap: sp.csr_matrix) -> sp.csr_matrix:
    """(N^2, ne) map: each pixel's value is the area average of the elements inside it
    (pixels outside the mesh get 0)."""
    cover = np.asarray(overlap.sum(axis=0)).ravel()
    inv = np.divide(1.0, cover, out=np.zeros_like(cover), where=cover > 0)
    return sp.diags(inv) @ overlap.T.tocsr()


@register_operator
class PixelCEMForward(ComposedOperator):
    """A CEM operator on N x N pixel images: ``cem(pixels_to_elements(img))``.

    Input (B, N, N) conductivity images on ``[-extent, extent]^2``; output as ``cem``.
    ``to_pixels(sigma)`` maps element conductivities back to images for display or targets.
    """

    def __init__(self, cem, n_pixels: int, extent: float | None = None):
        self.n_pixels = n_pixels
        self.extent = float(extent if extent is not None else np.abs(cem.mesh.p).max())
        overlap = pixel_overlap(cem.mesh, n_pixels, self.extent)
        self.pixel_map = LinearOperator(pixels_to_elements(overlap), (n_pixels, n_pixels),
                                        cem.in_shape)
        self.element_map = LinearOperator(elements_to_pixels(overlap), cem.in_shape,
                                          (n_pixels, n_pixels))
        super().__init__(cem, self.pixel_map)
        self._pixels_by_element = sp.csr_matrix(self.pixel_map.matrix.T)  # (N^2, ne)
        self._jacobian_memory = ReusedOutput()

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Dense (B, n_meas, N^2) Jacobian. On the host, per sample: the element Jacobian is
        contracted from the unit fields into element-major rows (ne, n_meas), and the sparse
        map takes them to pixel rows (N^2, n_meas) in one CSR product; no dense map, no
        (n_meas x ne) by (ne x N^2) product. The result is a pixel-major view (the transpose
        of a contiguous (B, N^2, n_meas) array; ``J.contiguous()`` for row-major); a batch's
        goes into the memory of the previous batch's once nothing refers to it. Other
        cases (CUDA, fewer than L - 1 patterns, per-pattern measurements) take the chain rule.
        """
        cem = self.outer
        self.check_input(x)
        if (x.device.type != "cpu" or cem.solves_on_device(x) or not cem.uses_unit_fields()
                or not cem._shared_measurements):
            return super().jacobian(x)
        sigma = self.pixel_map.A(x.detach().double())
        cem.check_input(sigma)
        to_pixels = self._pixels_by_element
        cem.host_order(), cem.device_system(torch.device("cpu"))  # made before the threads

        def one(s: np.ndarray) -> np.ndarray:
            forward, adjoint = cem.host_batch(torch.from_numpy(s)[None]).field_rows()
            f = forward[0].permute(2, 0, 1).contiguous()  # (ne, P, d)
            a = adjoint[0].permute(2, 1, 0).contiguous()  # (ne, d, m)
            rows = torch.bmm(f, a).view(f.shape[0], -1).numpy()  # (ne, n_meas): J^T, elements
            return to_pixels @ rows  # (N^2, n_meas)

        if x.shape[0] == 1:
            out = torch.from_numpy(one(sigma.numpy()[0]))[None]
        else:
            out = self._jacobian_memory.new((x.shape[0], self.n_pixels**2, cem.n_out))

            def into(s: np.ndarray, o: np.ndarray) -> None:
                o[...] = one(s)

            cem._map(into, sigma.numpy(), out.numpy())
        return out.transpose(1, 2).to(dtype=x.dtype, device=x.device)

    def to_pixels(self, sigma):
        """Element conductivities (B, ne) -> images (B, N, N)."""
        return self.element_map.A(sigma)

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "cem": self.outer.config(),
                "n_pixels": self.n_pixels, "extent": self.extent}

    @classmethod
    def example(cls) -> PixelCEMForward:
        return cls(CEMForward.example(), 8)

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        """Positive pixel conductivities around 1 S/m."""
        return torch.exp(0.3 * Operator.example_input(self, batch, seed))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> PixelCEMForward:
        from invtools.operators import operator_from_config

        return cls(operator_from_config(cfg["cem"]), cfg["n_pixels"], cfg["extent"])
