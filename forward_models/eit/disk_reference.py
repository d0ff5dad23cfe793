"""Mesh-free reference CEM solution for a homogeneous disk (validation of the FEM).

The potential is expanded in the harmonic functions 1, (r/R)^n cos(n theta), (r/R)^n sin(n theta),
n <= n_modes, which satisfy div(sigma grad u) = 0 exactly; the CEM energy functional is then
minimised over that space (Trefftz-Galerkin).  All integrals are closed form: the Dirichlet
energy of each mode is sigma * pi * n, and boundary integrals are integrals of cos/sin over the
electrode arcs.  No FEM, no mesh: an independent check of :class:`CEMForward`.
"""

from __future__ import annotations

import numpy as np

from forward_models.eit.cem import ground_basis
from forward_models.eit.electrodes import Electrodes


def _int_cos(k: np.ndarray, a: float, b: float) -> np.ndarray:
    safe = np.where(k == 0, 1, k)
    return np.where(k == 0, b - a, (np.sin(k * b) - np.sin(k * a)) / safe)


def _int_sin(k: np.ndarray, a: float, b: float) -> np.ndarray:
    safe = np.where(k == 0, 1, k)
    return np.where(k == 0, 0.0, (np.cos(k * a) - np.cos(k * b)) / safe)


def _arc_integrals(n_modes: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Mass matrix int_a^b phi_i phi_j dtheta and load int_a^b phi_i dtheta of the boundary
    traces [1, cos(n t), sin(n t)] (n = 1..n_modes)."""
    n = np.arange(n_modes + 1)
    ki, kj = n[:, None], n[None, :]
    dif, summ = ki - kj, ki + kj
    cc = 0.5 * (_int_cos(dif, a, b) + _int_cos(summ, a, b))
    ss = 0.5 * (_int_cos(dif, a, b) - _int_cos(summ, a, b))
    cs = 0.5 * (_int_sin(summ, a, b) - _int_sin(dif, a, b))  # cos(ki t) sin(kj t)
    # drop the sin(0 t) = 0 mode: rows/cols 1..n_modes of the sine block
    M = np.block([[cc, cs[:, 1:]], [cs[:, 1:].T, ss[1:, 1:]]])
    load = np.concatenate([_int_cos(n, a, b), _int_sin(n[1:], a, b)])
    return M, load


def disk_electrode_potentials(electrodes: Electrodes, currents: np.ndarray, sigma: float = 1.0,
                              radius: float = 1.0, n_modes: int = 1024) -> np.ndarray:
    """Grounded electrode potentials (P, L) of the CEM on a homogeneous disk.

    Args:
        electrodes: electrode geometry and contact impedances.
        currents: (P, L) current patterns, each summing to zero.
        sigma: conductivity of the disk.
        radius: disk radius (same length unit as for the FEM).
        n_modes: highest Fourier frequency.
    """
    L = electrodes.L
    n = np.arange(n_modes + 1)
    energy = sigma * np.pi * np.concatenate([n, n[1:]]).astype(np.float64)
    size = energy.size
    K = np.diag(energy)
    C = np.zeros((size, L))
    d = np.zeros(L)
    for l, ((a, b), z) in enumerate(zip(electrodes.intervals(), electrodes.contact_impedance,
                                        strict=True)):
        M, load = _arc_integrals(n_modes, a, b)
        K += radius * M / z
        C[:, l] = -radius * load / z
        d[l] = radius * (b - a) / z
    Q = ground_basis(L)
    system = np.block([[K, C @ Q], [(C @ Q).T, Q.T @ (d[:, None] * Q)]])
    rhs = np.zeros((size + L - 1, currents.shape[0]))
    rhs[size:] = Q.T @ np.asarray(currents, dtype=np.float64).T
    sol = np.linalg.solve(system, rhs)
    return (Q @ sol[size:]).T
