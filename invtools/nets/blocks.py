"""Spatial layers shared by the unrolled networks: 1-D and 2-D convolutions, and a graph
convolution for element vectors on a mesh; the residual CNN block Lambda built from them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

Tensor = torch.Tensor


def element_adjacency(triangles: np.ndarray) -> sp.csr_matrix:
    """Row-normalised adjacency (ne, ne) of triangles sharing an edge; ``triangles`` (3, ne)."""
    ne = triangles.shape[1]
    edges = np.sort(np.concatenate([triangles[[0, 1]], triangles[[1, 2]], triangles[[0, 2]]],
                                   axis=1), axis=0)
    owner = np.tile(np.arange(ne), 3)
    key = edges[0].astype(np.int64) * (triangles.max() + 1) + edges[1]
    order = np.argsort(key, kind="stable")
    k, o = key[order], owner[order]
    shared = np.nonzero(k[1:] == k[:-1])[0]
    rows = np.concatenate([o[shared], o[shared + 1]])
    cols = np.concatenate([o[shared + 1], o[shared]])
    A = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(ne, ne))
    deg = np.asarray(A.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.maximum(deg, 1)) @ A


class GraphConv(nn.Module):
    """``y = W [x, A x] + b`` on features (B, C, n) with a fixed row-normalised adjacency A.

    ``A x`` is a gather over a padded neighbour table (n, max_degree) with weights (zero on
    padding), which is faster than a sparse product for mesh graphs of bounded degree; the
    self and neighbour weights are applied by one fused matrix product (not a 1x1 Conv1d,
    whose backward pass is many times slower on CPU).
    """

    def __init__(self, in_ch: int, out_ch: int, adjacency: sp.spmatrix):
        super().__init__()
        lin = nn.Linear(2 * in_ch, out_ch)  # for its default initialisation
        self.weight = nn.Parameter(lin.weight.detach().clone())
        self.bias = nn.Parameter(lin.bias.detach().clone())
        A = sp.csr_matrix(adjacency)
        n, deg = A.shape[0], np.diff(A.indptr)
        width = max(1, int(deg.max(initial=1)))
        index = np.tile(np.arange(n)[:, None], (1, width))
        weight = np.zeros((n, width))
        slot = np.arange(A.nnz) - np.repeat(A.indptr[:-1], deg)
        rows = np.repeat(np.arange(n), deg)
        index[rows, slot], weight[rows, slot] = A.indices, A.data
        self.register_buffer("nb_index", torch.as_tensor(index.ravel(), dtype=torch.int64))
        self.register_buffer("nb_weight", torch.as_tensor(weight, dtype=torch.float32))
        self.n, self.width = n, width

    def neighbour_mean(self, x: Tensor) -> Tensor:
        gathered = x.index_select(-1, self.nb_index).reshape(*x.shape[:-1], self.n, self.width)
        return (gathered * self.nb_weight.to(x.dtype)).sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        features = torch.cat([x, self.neighbour_mean(x)], dim=1)  # (B, 2C, n)
        return torch.matmul(self.weight, features) + self.bias[:, None]


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
        return self.layers(x)
