"""The CEM system and the operator's patterns as torch tensors on one device, and the sparse
products every batched path shares: element gradients and the stiffness action."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from forward_models.eit.cem import CEMSystem, ground_basis

Tensor = torch.Tensor


class SparseMap:
    """A constant sparse matrix for ``A @ x`` with dense tensors x (n, k) on one device: scipy's
    CSR product on the CPU (several times faster there than torch's sparse kernels), a
    coalesced torch COO tensor elsewhere."""

    def __init__(self, m: sp.spmatrix, device: torch.device, dtype: torch.dtype):
        self.shape, self.device, self.dtype = m.shape, torch.device(device), dtype
        if self.device.type == "cpu":
            self.csr = sp.csr_matrix(m, dtype=np.float64)
        else:
            c = sp.coo_matrix(m)
            index = torch.as_tensor(np.stack([c.row, c.col]), dtype=torch.int64)
            self.coo = torch.sparse_coo_tensor(index, torch.as_tensor(c.data, dtype=dtype),
                                               size=c.shape, device=device,
                                               check_invariants=False).coalesce()

    def __matmul__(self, x: Tensor) -> Tensor:
        if self.device.type == "cpu":
            return torch.from_numpy(np.asarray(self.csr @ x.detach().numpy()))
        return self.coo @ x


@dataclass
class DeviceSystem:
    """A :class:`~forward_models.eit.cem.CEMSystem` and the operator's patterns as tensors on one
    device: everything a batch needs besides the conductivities."""

    n_nodes: int
    size: int                  # n = N + L - 1
    dim: int
    flat: Tensor               # (nnz,) positions row * n + col of the pattern's entries
    data0: Tensor              # (nnz,)
    data_map: SparseMap        # (nnz, ne)
    G: SparseMap               # (d ne, N)
    GT: SparseMap              # (N, d ne)
    areas: Tensor              # (ne,)
    Q: Tensor                  # (L, L-1) ground basis
    coeff: Tensor              # (L-1, P) unit-field coefficients of the current patterns
    S: SparseMap               # (n_meas, P L) measurement map
    ST: SparseMap              # (P L, n_meas)
    measurement_q: list[Tensor]  # per pattern M_p Q (m_p, L-1); one entry when all are the same
    n_patterns: int

    @property
    def n_electrodes(self) -> int:
        return self.Q.shape[0]


def device_system(system: CEMSystem, currents: np.ndarray, S: sp.spmatrix,
                  measurement_q: list[np.ndarray], device: torch.device,
                  dtype: torch.dtype = torch.float64) -> DeviceSystem:
    """The tensors of ``system`` with ``currents`` (P, L), measurement map ``S`` (n_meas, P L)
    and the matrices ``M_p Q`` (m_p, L-1) on ``device``: one per pattern, or a single one that
    every pattern shares."""
    n = system.size
    cols = np.repeat(np.arange(n), np.diff(system.indptr))
    L = system.n_electrodes
    Q = ground_basis(L)

    def t(a):
        return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)

    return DeviceSystem(
        n_nodes=system.n_nodes, size=n, dim=system.dim,
        flat=torch.as_tensor(system.indices * n + cols, dtype=torch.int64, device=device),
        data0=t(system.data0), data_map=SparseMap(system.data_map, device, dtype),
        G=SparseMap(system.G, device, dtype), GT=SparseMap(system.G.T, device, dtype), areas=t(system.areas),
        Q=t(Q), coeff=t(Q.T @ currents.T), S=SparseMap(S, device, dtype), ST=SparseMap(S.T, device, dtype),
        measurement_q=[t(m) for m in measurement_q],
        n_patterns=currents.shape[0])


def element_gradients(ds: DeviceSystem, fields: Tensor) -> Tensor:
    """Gradients (B, k, d, ne) of the nodal parts of fields (B, n, k), field-major: each
    field's gradient components are contiguous rows, so products over the field index are
    wide matrix products."""
    B, _, k = fields.shape
    nodal = fields[:, : ds.n_nodes].permute(1, 0, 2).reshape(ds.n_nodes, B * k)
    g = ds.G @ nodal  # (d ne, B k)
    return g.T.reshape(B, k, ds.dim, -1).contiguous()


def stiffness_action(ds: DeviceSystem, weights: Tensor, gradients: Tensor) -> Tensor:
    """``sum_e weights_e K_e x`` (B, n, k) for fields with element gradients (B, k, d, ne) and
    per-sample element weights (B, ne)."""
    B, k, d, ne = gradients.shape
    flux = gradients * (ds.areas * weights)[:, None, None, :]
    nodal = ds.GT @ flux.reshape(B * k, d * ne).T.contiguous()  # (N, B k)
    out = torch.zeros(B, ds.size, k, dtype=gradients.dtype, device=gradients.device)
    out[:, : ds.n_nodes] = nodal.reshape(ds.n_nodes, B, k).permute(1, 0, 2)
    return out
