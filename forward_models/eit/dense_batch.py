"""The CEM on torch's device: a batched dense Cholesky of the reduced SPD system, and every
derivative from it, with no host round trip.

For the meshes the nets train on (the tank's image mesh: about 1.1k unknowns), one (B, n, n)
``potrf`` and triangular solves on all right-hand sides at once are the whole cost, and they run
where the input lives: on a GPU they take milliseconds for a batch, on the CPU they are
selectable (``solver="dense"``) and equal the sparse LU to rounding. The formulas are those of
:mod:`forward_models.eit.forward`, written for a batch:

    K(sigma) = K0 + sum_e sigma_e K_e          (B, n, n), scattered from the fixed pattern
    Psi = K^{-1} [0; I_{L-1}]                  (B, n, L-1), the unit fields
    X = Psi C,  C = Q^T I^T                    (B, n, P), the forward fields
    J^T w:  -|T_e| sum_{d,p} (grad Psi C_w)_{dep} (grad X)_{dep},  C_w = Q^T (S^T w)^T
    J v:    dX = -K^{-1} G^T (|T| v grad X)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from forward_models.eit.cem import CEMSystem, ground_basis
from forward_models.eit.solvers import DENSE_MAX_UNKNOWNS, SingularSystemError

Tensor = torch.Tensor

CPU_CHUNK_BYTES = 2 << 30  # the most a chunk's factors may take on the CPU (CUDA: a quarter of free)


def _sparse(m: sp.spmatrix, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A scipy matrix as a coalesced torch COO tensor on ``device`` (``@`` with dense operands)."""
    c = sp.coo_matrix(m)
    index = torch.as_tensor(np.stack([c.row, c.col]), dtype=torch.int64)
    return torch.sparse_coo_tensor(index, torch.as_tensor(c.data, dtype=dtype), size=c.shape,
                                   device=device, check_invariants=False).coalesce()


@dataclass
class DeviceSystem:
    """A :class:`~forward_models.eit.cem.CEMSystem` and the operator's patterns as tensors on one
    device: everything a batch needs besides the conductivities."""

    n_nodes: int
    size: int                  # n = N + L - 1
    dim: int
    flat: Tensor               # (nnz,) positions row * n + col of the pattern's entries
    data0: Tensor              # (nnz,)
    data_map: Tensor           # (nnz, ne) sparse
    G: Tensor                  # (d ne, N) sparse
    GT: Tensor                 # (N, d ne) sparse
    areas: Tensor              # (ne,)
    Q: Tensor                  # (L, L-1) ground basis
    coeff: Tensor              # (L-1, P) unit-field coefficients of the current patterns
    S: Tensor                  # (n_meas, P L) sparse measurement map
    ST: Tensor                 # (P L, n_meas) sparse
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
    if n > DENSE_MAX_UNKNOWNS:
        raise ValueError(f"solver 'dense' is for systems of at most {DENSE_MAX_UNKNOWNS} unknowns; "
                         f"this one has {n} (use 'direct' or 'amg')")
    cols = np.repeat(np.arange(n), np.diff(system.indptr))
    L = system.n_electrodes
    Q = ground_basis(L)

    def t(a):
        return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)

    return DeviceSystem(
        n_nodes=system.n_nodes, size=n, dim=system.dim,
        flat=torch.as_tensor(system.indices * n + cols, dtype=torch.int64, device=device),
        data0=t(system.data0), data_map=_sparse(system.data_map, device, dtype),
        G=_sparse(system.G, device, dtype), GT=_sparse(system.G.T, device, dtype), areas=t(system.areas),
        Q=t(Q), coeff=t(Q.T @ currents.T), S=_sparse(S, device, dtype), ST=_sparse(S.T, device, dtype),
        measurement_q=[t(m) for m in measurement_q],
        n_patterns=currents.shape[0])


def chunk_size(ds: DeviceSystem, device: torch.device) -> int:
    """Samples per chunk, so that a chunk's (B, n, n) factors fit the device's budget."""
    per_sample = 8 * ds.size**2 * 3  # the matrix, its factor and the solves' workspace
    if device.type == "cuda":
        budget = torch.cuda.mem_get_info(device)[0] // 4
    else:
        budget = CPU_CHUNK_BYTES
    return max(1, int(budget // per_sample))


def assemble(ds: DeviceSystem, sigma: Tensor) -> Tensor:
    """Dense CEM matrices (B, n, n) for element conductivities sigma (B, ne)."""
    values = ds.data0 + (ds.data_map @ sigma.T).T  # (B, nnz)
    K = torch.zeros(sigma.shape[0], ds.size * ds.size, dtype=sigma.dtype, device=sigma.device)
    K[:, ds.flat] = values
    return K.view(-1, ds.size, ds.size)


def element_gradients(ds: DeviceSystem, fields: Tensor) -> Tensor:
    """(B, d, ne, k) gradients of the nodal parts of fields (B, n, k)."""
    B, _, k = fields.shape
    nodal = fields[:, : ds.n_nodes].permute(1, 0, 2).reshape(ds.n_nodes, B * k)
    g = ds.G @ nodal  # (d ne, B k)
    return g.reshape(ds.dim, -1, B, k).permute(2, 0, 1, 3)


def stiffness_action(ds: DeviceSystem, weights: Tensor, gradients: Tensor) -> Tensor:
    """``sum_e weights_e K_e x`` (B, n, k) for fields with element gradients (B, d, ne, k) and
    per-sample element weights (B, ne)."""
    B, d, ne, k = gradients.shape
    flux = (ds.areas * weights)[:, None, :, None] * gradients
    nodal = ds.GT @ flux.permute(1, 2, 0, 3).reshape(d * ne, B * k)  # (N, B k)
    out = torch.zeros(B, ds.size, k, dtype=gradients.dtype, device=gradients.device)
    out[:, : ds.n_nodes] = nodal.reshape(ds.n_nodes, B, k).permute(1, 0, 2)
    return out


def _pairwise_dot(a: Tensor, b: Tensor) -> Tensor:
    """``sum_{d,p} a[:, d, e, p] b[:, d, e, p]`` -> (B, ne)."""
    return (a * b).sum(dim=(1, 3))


class DenseLinearization:
    """The factors and unit fields of a batch of conductivities (B, ne), on their device."""

    def __init__(self, ds: DeviceSystem, sigma: Tensor):
        self.ds = ds
        self.factor, info = torch.linalg.cholesky_ex(assemble(ds, sigma))
        bad = torch.nonzero(info).flatten()
        if bad.numel():
            b = int(bad[0])
            raise SingularSystemError(f"CEM system of sample {b} is singular or not positive "
                                      f"definite (Cholesky failed at column {int(info[b])})")
        L1 = ds.n_electrodes - 1
        unit = torch.zeros(ds.size, L1, dtype=sigma.dtype, device=sigma.device)
        unit[ds.n_nodes:] = torch.eye(L1, dtype=sigma.dtype, device=sigma.device)
        psi = torch.cholesky_solve(unit.expand(sigma.shape[0], -1, -1), self.factor)
        self.unit_electrodes = psi[:, ds.n_nodes:]            # (B, L-1, L-1)
        self.unit_grads = element_gradients(ds, psi)          # (B, d, ne, L-1)
        self.grad_X = self.unit_grads @ ds.coeff              # (B, d, ne, P)

    def potentials(self, fields_electrodes: Tensor) -> Tensor:
        """Grounded electrode potentials (B, P, L) from electrode unknowns (B, L-1, P)."""
        return (self.ds.Q @ fields_electrodes).transpose(1, 2)

    def measure(self, U: Tensor) -> Tensor:
        """Measurements (B, n_meas) of electrode potentials (B, P, L)."""
        return (self.ds.S @ U.reshape(U.shape[0], -1).T).T

    def electrode_potentials(self) -> Tensor:
        """(B, P, L) of the current patterns."""
        return self.potentials(self.unit_electrodes @ self.ds.coeff)

    def forward(self) -> Tensor:
        """(B, n_meas) measurements."""
        return self.measure(self.electrode_potentials())

    def adjoint_gradients(self, w: Tensor) -> Tensor:
        """(B, d, ne, P) gradients of the adjoint fields ``K^{-1} [0; Q^T W_p]``, W = S^T w."""
        W = (self.ds.ST @ w.T).T.reshape(w.shape[0], self.ds.n_patterns, -1)  # (B, P, L)
        return self.unit_grads @ (self.ds.Q.T @ W.transpose(1, 2))[:, None]  # (B, 1, L-1, P)

    def tangent(self, v: Tensor, grads: Tensor) -> Tensor:
        """Fields (B, n, k) ``-K^{-1} (sum_e v_e K_e F)`` for fields F given by element gradients."""
        return torch.cholesky_solve(-stiffness_action(self.ds, v, grads), self.factor)

    def jvp(self, v: Tensor) -> Tensor:
        """``J v`` (B, n_meas) for conductivity perturbations v (B, ne)."""
        dX = self.tangent(v, self.grad_X)
        return self.measure(self.potentials(dX[:, self.ds.n_nodes:]))

    def vjp(self, w: Tensor) -> Tensor:
        """``J^T w`` (B, ne) for measurement weights w (B, n_meas), by one adjoint product."""
        return -self.ds.areas * _pairwise_dot(self.adjoint_gradients(w), self.grad_X)

    def hvp(self, w: Tensor, u: Tensor) -> Tensor:
        """``d/dt J(sigma + t u)^T w`` at t = 0, (B, ne): the second derivative contracted with
        measurement weights w (B, n_meas) and a direction u (B, ne)."""
        g_lam = self.adjoint_gradients(w)
        g_dX = element_gradients(self.ds, self.tangent(u, self.grad_X))
        g_dlam = element_gradients(self.ds, self.tangent(u, g_lam))
        return -self.ds.areas * (_pairwise_dot(g_lam, g_dX) + _pairwise_dot(g_dlam, self.grad_X))

    def jacobian(self) -> Tensor:
        """(B, n_meas, ne) from the unit fields: rows of pattern p contract ``grad u_p`` with the
        adjoint fields ``(M_p Q) Psi``."""
        g_u = self.grad_X * -self.ds.areas[:, None]  # (B, d, ne, P)
        measurement_q = self.ds.measurement_q
        if len(measurement_q) == 1:
            adj = self.unit_grads @ measurement_q[0].T  # (B, d, ne, m)
            J = torch.einsum("bdem,bdep->bpme", adj, g_u)
            return J.reshape(J.shape[0], -1, J.shape[-1])
        blocks = [torch.einsum("bdem,bde->bme", self.unit_grads @ MQ.T, g_u[..., p])
                  for p, MQ in enumerate(measurement_q)]
        return torch.cat(blocks, dim=1)


class DenseBatch:
    """A batch's :class:`DenseLinearization` in chunks that fit the device (a list of slices)."""

    def __init__(self, ds: DeviceSystem, sigma: Tensor):
        step = chunk_size(ds, sigma.device)
        self.parts = [DenseLinearization(ds, sigma[a: a + step])
                      for a in range(0, sigma.shape[0], step)]
        self.step = step

    def map(self, name: str, *args: Tensor, **kwargs) -> Tensor:
        """``getattr(part, name)(*chunk_args)`` over the chunks, concatenated on the batch."""
        out = [getattr(part, name)(*(a[i * self.step:(i + 1) * self.step] for a in args), **kwargs)
               for i, part in enumerate(self.parts)]
        return out[0] if len(out) == 1 else torch.cat(out)

