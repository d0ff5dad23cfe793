"""Every CEM derivative of a batch from its unit fields, as batched tensor products.

The CEM solution is linear in the injected currents. With the L - 1 unit fields
``Psi = K^{-1} [0; I_{L-1}]`` (B, n, L-1), the forward fields are ``X = Psi C`` with
``C = Q^T I^T`` (L-1, P), and the adjoint fields of measurement weights w are ``Psi C_w`` with
``C_w = Q^T W^T``, ``W = S^T w`` as (P, L). Since K is symmetric, the electrode rows of
``K^{-1}`` are ``Psi^T`` (reciprocity). Writing ``g`` for the element gradients of Psi
(B, d, ne, L-1) and ``|T|`` for the element measures:

    forward:  U = Q (Psi_e C)^T                   Psi_e: the electrode rows of Psi
    J^T w:    -|T_e| sum_c g_c[e] (C_w C^T) g_c[e]^T
    J v:      dU~ = -H(v) C,   H(v) = sum_c g_c^T diag(|T| v) g_c      (no solve)
    HVP:      -|T_e| sum_c g'_c[e] (M + M^T) g_c[e]^T,  M = C_w C^T,
              g' the gradients of the tangent unit fields -K^{-1} (sum_e u_e K_e Psi)  (one solve)

So a batch costs its factorisations and L - 1 solves per sample for the forward, the VJP and the
JVP, and L - 1 more per sample for the HVP; everything else is batched products over (B, ...)
tensors. The solver is the caller's: batched dense Cholesky on the input's device
(:mod:`~forward_models.eit.dense_batch`) or one sparse LU per sample on the host.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from forward_models.eit.system_tensors import DeviceSystem, element_gradients, stiffness_action

Tensor = torch.Tensor
Solve = Callable[[Tensor], Tensor]  # (B, n, k) right-hand sides -> (B, n, k) solutions


def unit_rhs(ds: DeviceSystem, like: Tensor) -> Tensor:
    """The unit right-hand sides ``[0; I_{L-1}]`` (n, L-1), of ``like``'s dtype and device."""
    L1 = ds.n_electrodes - 1
    rhs = torch.zeros(ds.size, L1, dtype=like.dtype, device=like.device)
    rhs[ds.n_nodes:] = torch.eye(L1, dtype=like.dtype, device=like.device)
    return rhs


class UnitFieldBatch:
    """The linearisation of a batch of conductivities from its unit fields.

    Args:
        ds: the operator's system and patterns as tensors (on the unit fields' device).
        unit_electrodes: the electrode rows of the unit fields (B, L-1, L-1), float64: the
            electrode block of ``K^{-1}``.
        solve: solves K(sigma_b) for each sample's right-hand sides (B, n, k) -> (B, n, k).
        psi: the unit fields (B, n, L-1) if already solved for; else they are solved for on
            the first derivative (a forward pass alone never needs them).
    """

    def __init__(self, ds: DeviceSystem, unit_electrodes: Tensor, solve: Solve,
                 psi: Tensor | None = None):
        self.ds, self._solve = ds, solve
        self.unit_electrodes = unit_electrodes
        self._psi = psi
        self._grads: Tensor | None = None

    @property
    def unit_grads(self) -> Tensor:
        """Element gradients (B, L-1, d, ne) of the unit fields, field-major (made on first
        use)."""
        if self._grads is None:
            psi = self._psi
            if psi is None:
                B = self.unit_electrodes.shape[0]
                psi = self._solve(unit_rhs(self.ds, self.unit_electrodes).expand(B, -1, -1))
            self._grads = element_gradients(self.ds, psi)
            self._psi = None
        return self._grads

    # --- measurements ---------------------------------------------------------------------
    def potentials(self, electrode_unknowns: Tensor) -> Tensor:
        """Grounded electrode potentials (B, P, L) from electrode unknowns (B, L-1, P)."""
        return (self.ds.Q @ electrode_unknowns).transpose(1, 2)

    def measure(self, U: Tensor) -> Tensor:
        """Measurements (B, n_meas) of electrode potentials (B, P, L)."""
        return (self.ds.S @ U.reshape(U.shape[0], -1).T.contiguous()).T

    def measure_unknowns(self, E: Tensor) -> Tensor:
        """Measurements (B, n_meas) of electrode unknowns (B, L-1, P): ``M Q E_p`` per pattern
        when every pattern shares M (one batched product), else through the measurement map."""
        if len(self.ds.measurement_q) > 1:
            return self.measure(self.potentials(E))
        return (self.ds.measurement_q[0] @ E).transpose(1, 2).reshape(E.shape[0], -1)

    def electrode_potentials(self) -> Tensor:
        """(B, P, L) of the current patterns."""
        return self.potentials(self.unit_electrodes @ self.ds.coeff)

    def forward(self) -> Tensor:
        """(B, n_meas) measurements."""
        return self.measure_unknowns(self.unit_electrodes @ self.ds.coeff)

    def weight_coefficients(self, w: Tensor) -> Tensor:
        """``C_w C^T`` (B, L-1, L-1) for measurement weights w (B, n_meas)."""
        B, P = w.shape[0], self.ds.n_patterns
        if len(self.ds.measurement_q) == 1:  # C_w = (M Q)^T w_p per pattern
            C_w = self.ds.measurement_q[0].T @ w.reshape(B, P, -1).transpose(1, 2)
        else:
            W = (self.ds.ST @ w.T.contiguous()).T.reshape(B, P, -1)  # (B, P, L)
            C_w = self.ds.Q.T @ W.transpose(1, 2)
        return C_w @ self.ds.coeff.T

    # --- derivatives ----------------------------------------------------------------------
    def _quadratic(self, left: Tensor, M: Tensor, right: Tensor) -> Tensor:
        """``-|T_e| sum_c left_c[e] M right_c[e]^T`` (B, ne) for gradients (B, L-1, d, ne)."""
        B, k, d, ne = left.shape
        product = torch.bmm(M.transpose(1, 2), left.view(B, k, d * ne))  # (B, L-1, d ne)
        return -self.ds.areas * (product * right.view(B, k, d * ne)).sum(dim=1).view(B, d, ne).sum(dim=1)

    def vjp(self, w: Tensor) -> Tensor:
        """``J^T w`` (B, ne) for measurement weights w (B, n_meas)."""
        g = self.unit_grads
        return self._quadratic(g, self.weight_coefficients(w), g)

    def jvp(self, v: Tensor) -> Tensor:
        """``J v`` (B, n_meas) for conductivity perturbations v (B, ne), by reciprocity."""
        g = self.unit_grads
        B, k, d, ne = g.shape
        weighted = (g * (self.ds.areas * v)[:, None, None, :]).view(B, k, d * ne)
        H = torch.bmm(weighted, g.view(B, k, d * ne).transpose(1, 2))  # (B, L-1, L-1)
        return self.measure_unknowns(-H @ self.ds.coeff)

    def tangent_gradients(self, u: Tensor) -> Tensor:
        """Gradients (B, L-1, d, ne) of the tangent unit fields ``-K^{-1} sum_e u_e K_e Psi``."""
        rhs = -stiffness_action(self.ds, u, self.unit_grads)
        return element_gradients(self.ds, self._solve(rhs))

    def hvp(self, w: Tensor, u: Tensor) -> Tensor:
        """``d/dt J(sigma + t u)^T w`` at t = 0 (B, ne), for weights w (B, n_meas) and a
        direction u (B, ne)."""
        M = self.weight_coefficients(w)
        return self._quadratic(self.tangent_gradients(u), M + M.transpose(1, 2), self.unit_grads)

    def _combined_gradients(self, coefficients: Tensor) -> Tensor:
        """Element gradients (B, r, d, ne) of the fields ``Psi coefficients^T`` for
        coefficients (r, L-1): one wide product over the unit-field index."""
        g = self.unit_grads
        B, k, d, ne = g.shape
        return (coefficients @ g.view(B, k, -1)).view(B, -1, d, ne)

    def field_rows(self) -> tuple[Tensor, Tensor]:
        """The Jacobian's two factors, field-major: element gradients of the forward fields
        times ``-|T|`` (B, P, d, ne), and of the shared measurements' adjoint fields
        ``(M Q) Psi`` (B, m, d, ne)."""
        forward = self._combined_gradients(self.ds.coeff.T) * -self.ds.areas
        return forward, self._combined_gradients(self.ds.measurement_q[0])

    def jacobian(self) -> Tensor:
        """(B, n_meas, ne): rows of pattern p contract ``grad u_p`` with the adjoint fields
        ``(M_p Q) Psi``."""
        if len(self.ds.measurement_q) == 1:
            forward, adjoint = self.field_rows()
            J = torch.einsum("bpce,bmce->bpme", forward, adjoint)
            return J.reshape(J.shape[0], -1, J.shape[-1])
        forward = self._combined_gradients(self.ds.coeff.T) * -self.ds.areas
        blocks = [torch.einsum("bmce,bce->bme", self._combined_gradients(MQ), forward[:, p])
                  for p, MQ in enumerate(self.ds.measurement_q)]
        return torch.cat(blocks, dim=1)

    def map(self, name: str, *args: Tensor) -> Tensor:
        """``getattr(self, name)(*args)``: the interface the operator shares with chunked batches."""
        return getattr(self, name)(*args)
