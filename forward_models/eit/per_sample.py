"""The per-sample linearisation of the CEM in NumPy: one sample's factorisation, fields and
derivatives at a time. :class:`~forward_models.eit.forward.CEMForward` uses it for its dense
Jacobian on the host, with fewer current patterns than L - 1, and when ``batched=False``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from forward_models.eit.cem import CEMSystem, ground_basis

Tensor = torch.Tensor


class Linearization:
    """Everything the derivatives at one conductivity reuse.

    The CEM solution is linear in the injected currents: with the L - 1 unit fields
    ``Psi = K^{-1} [0; I_{L-1}]`` every forward field is ``Psi Q^T I`` and every adjoint field
    ``Psi Q^T W``.  When there are at least L - 1 current patterns the unit fields are solved
    for directly (L - 1 solves serve the forward, the VJP and the Jacobian); otherwise the P
    forward fields are solved for and the unit fields only when a Jacobian asks for them.
    """

    def __init__(self, system: CEMSystem, solver: Any, currents: np.ndarray):
        self.system, self.solver = system, solver
        self._unit_grads: np.ndarray | None = None
        self._coeff: np.ndarray | None = None  # (L-1, P): X = Psi @ coeff, on the unit path
        if currents.shape[0] >= system.n_electrodes - 1:
            psi = self.solver.solve(system.unit_rhs())
            self._unit_grads = system.element_gradients(psi)
            self._coeff = ground_basis(system.n_electrodes).T @ currents.T
            self.X = psi @ self._coeff
            self.grad_X = self._combine_units(self._coeff)
        else:
            self.X = self.solver.solve(system.rhs(currents))
            self.grad_X = system.element_gradients(self.X)
        self.U = system.electrode_potentials(self.X)  # (P, L)

    def _combine_units(self, coeff: np.ndarray) -> np.ndarray:
        """Element gradients (d, ne, k) of ``Psi @ coeff`` for coeff (L-1, k), as one GEMM."""
        g = self._unit_grads
        return (g.reshape(-1, g.shape[2]) @ coeff).reshape(g.shape[0], g.shape[1], -1)

    def unit_gradients(self) -> np.ndarray:
        """Element gradients (d, ne, L-1) of the unit fields (solved for on first use)."""
        if self._unit_grads is None:
            self._unit_grads = self.system.element_gradients(self.solver.solve(self.system.unit_rhs()))
        return self._unit_grads

    def forward_gradient_rows(self, scale: np.ndarray) -> np.ndarray:
        """``scale * grad u_p`` as contiguous rows (d, P, ne): on the unit path one small GEMM
        per component (``coeff^T Psi_grad^T``) instead of a strided transpose of ``grad_X``."""
        if self._coeff is None:
            rows = np.ascontiguousarray(self.grad_X.transpose(0, 2, 1))
        else:
            g = self._unit_grads
            rows = np.empty((g.shape[0], self._coeff.shape[1], g.shape[1]))
            for c in range(g.shape[0]):
                np.matmul(self._coeff.T, g[c].T, out=rows[c])
        rows *= scale
        return rows

    def adjoint_gradients(self, W: np.ndarray) -> np.ndarray:
        """Element gradients (d, ne, P) of ``K^{-1} [0; Q^T W_p]`` for electrode weights W (P, L)."""
        coeff = ground_basis(self.system.n_electrodes).T @ W.T  # (L-1, P)
        if self._unit_grads is not None:
            return self._combine_units(coeff)
        rhs = np.zeros((self.system.size, W.shape[0]))
        rhs[self.system.n_nodes:] = coeff
        return self.system.element_gradients(self.solver.solve(rhs))


def sum_of_products(out: Tensor, a: Tensor, b: Tensor, chunk: int = 1024) -> None:
    """``out = sum_c a[c] * b[c]`` (broadcast), over chunks of the last axis that stay in cache:
    one multiply and one fused multiply-add per component, no temporary."""
    for s in range(0, out.shape[-1], chunk):
        e = slice(s, s + chunk)
        o = out[..., e]
        torch.mul(a[0][..., e], b[0][..., e], out=o)
        for c in range(1, a.shape[0]):
            o.addcmul_(a[c][..., e], b[c][..., e])


def pairwise_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_{d,p} a[d, e, p] b[d, e, p]`` -> (ne,)."""
    return np.einsum("dep,dep->e", a, b)
