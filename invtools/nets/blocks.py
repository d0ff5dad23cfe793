"""Spatial layers shared by the unrolled networks: 1-D and 2-D convolutions, and a graph
convolution for element vectors on a mesh; the residual CNN block Lambda built from them."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

Tensor = torch.Tensor


def _csr(indptr: Tensor, indices: Tensor, values: Tensor, n: int) -> Tensor:
    with warnings.catch_warnings():  # torch calls all CSR tensors beta; CSR @ dense is stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(indptr, indices, values, size=(n, n), check_invariants=False)


class _AdjacencyProduct(torch.autograd.Function):
    """``X -> A X`` for node-major features X (n, k) and a constant sparse A; the backward is
    the same product with A^T, so derivatives of any order exist."""

    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, a_t: Tensor) -> Tensor:
        ctx.a, ctx.a_t = a, a_t
        return a @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        return _AdjacencyProduct.apply(grad, ctx.a_t, ctx.a), None, None


class GraphConv(nn.Module):
    """``y = W [x, A x] + b`` on features (B, C, n) with a fixed row-normalised adjacency A.

    Internally node-major: ``forward_node_major`` takes X (n, B, C), where ``A X`` is a sparse
    (CSR) product on a contiguous (n, B C) matrix (backward: the product with A^T) and the
    channel mixing is one ``linear`` over the last axis, so no transposed copies are made.
    :class:`ResidualBlock` stays node-major across its layers.  The adjacency is rebuilt from
    the mesh, not stored in checkpoints.
    """

    def __init__(self, in_ch: int, out_ch: int, adjacency: sp.spmatrix):
        super().__init__()
        lin = nn.Linear(2 * in_ch, out_ch)  # for its default initialisation
        self.weight = nn.Parameter(lin.weight.detach().clone())
        self.bias = nn.Parameter(lin.bias.detach().clone())
        A = sp.csr_matrix(adjacency, dtype=np.float64)
        A.sort_indices()
        self.n = A.shape[0]
        for name, M in (("adj", A), ("adj_t", A.T.tocsr())):
            M.sort_indices()
            self.register_buffer(f"{name}_indptr", torch.as_tensor(M.indptr, dtype=torch.int64),
                                 persistent=False)
            self.register_buffer(f"{name}_indices", torch.as_tensor(M.indices, dtype=torch.int64),
                                 persistent=False)
            self.register_buffer(f"{name}_values", torch.as_tensor(M.data, dtype=torch.float32),
                                 persistent=False)
        self._csr_cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for old in ("nb_index", "nb_weight"):  # neighbour tables of checkpoints before 2026-11-25
            state_dict.pop(prefix + old, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __getstate__(self):  # sparse CSR tensors cannot be deep-copied or pickled: rebuild them
        return {**self.__dict__, "_csr_cache": {}}

    def _matrices(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """(A, A^T) as CSR tensors of ``like``'s dtype and device (cached)."""
        key = (like.dtype, like.device, self.adj_values.data_ptr())
        if key not in self._csr_cache:
            self._csr_cache = {key: tuple(
                _csr(getattr(self, f"{m}_indptr"), getattr(self, f"{m}_indices"),
                     getattr(self, f"{m}_values").to(like.dtype), self.n)
                for m in ("adj", "adj_t"))}
        return self._csr_cache[key]

    def neighbour_mean(self, x: Tensor) -> Tensor:
        """``A X`` per column: node-major X (n, ...) -> (n, ...)."""
        a, a_t = self._matrices(x)
        return _AdjacencyProduct.apply(x.reshape(self.n, -1), a, a_t).reshape(x.shape)

    def forward_node_major(self, x: Tensor) -> Tensor:
        """X (n, B, C) -> (n, B, out_ch)."""
        features = torch.cat([x, self.neighbour_mean(x)], dim=-1)  # (n, B, 2C)
        return nn.functional.linear(features, self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, n) -> (B, out_ch, n)."""
        return self.forward_node_major(x.permute(2, 0, 1).contiguous()).permute(1, 2, 0)


def spatial_kind(shape: tuple[int, ...], adjacency: sp.spmatrix | None) -> str:
    """``"mesh"`` if an adjacency is given, else ``"1d"``/``"2d"`` from the sample shape."""
    if adjacency is not None:
        return "mesh"
    if len(shape) in (1, 2):
        return f"{len(shape)}d"
    raise ValueError(f"no spatial layer for samples of shape {shape}")


def spatial_conv(kind: str, in_ch: int, out_ch: int, adjacency: sp.spmatrix | None = None,
                 kernel: int = 3) -> nn.Module:
    """A 'same'-size convolution of the given kind (``1d``, ``2d`` or ``mesh``)."""
    if kind == "1d":
        return nn.Conv1d(in_ch, out_ch, kernel, padding=kernel // 2)
    if kind == "2d":
        return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)
    if kind == "mesh":
        if adjacency is None:
            raise ValueError("a mesh convolution needs the element adjacency")
        return GraphConv(in_ch, out_ch, adjacency)
    raise ValueError(f"unknown spatial kind {kind!r}")


class ResidualBlock(nn.Module):
    """Lambda: conv(in -> hidden), PReLU, conv(hidden -> hidden), PReLU, conv(hidden -> out).

    Its output is the update added to the iterate (the residual connection lives in the
    unrolled step).  The last layer starts small (weights x 0.1, zero bias) so an untrained
    net stays close to x0 while every parameter still receives a gradient.
    """

    def __init__(self, kind: str, in_ch: int, out_ch: int, hidden: int = 32,
                 adjacency: sp.spmatrix | None = None):
        super().__init__()
        self.layers = nn.Sequential(
            spatial_conv(kind, in_ch, hidden, adjacency), nn.PReLU(hidden),
            spatial_conv(kind, hidden, hidden, adjacency), nn.PReLU(hidden),
            spatial_conv(kind, hidden, out_ch, adjacency))
        with torch.no_grad():
            for name, p in self.layers[-1].named_parameters():
                p.mul_(0.0 if name.endswith("bias") else 0.1)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, in_ch, *S) -> update (B, out_ch, *S)."""
        if not isinstance(self.layers[0], GraphConv):
            return self.layers(x)
        h = x.permute(2, 0, 1).contiguous()  # node-major (n, B, C) through the whole block
        for layer in self.layers:
            if isinstance(layer, GraphConv):
                h = layer.forward_node_major(h)
            else:  # PReLU: its channel axis is the last one here
                h = nn.functional.prelu(h.reshape(-1, h.shape[-1]), layer.weight).reshape(h.shape)
        return h.permute(1, 2, 0)
