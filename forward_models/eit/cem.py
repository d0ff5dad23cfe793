"""Assembly of the complete electrode model (CEM): P1 potentials on triangles (2-D) or
tetrahedra (3-D), P0 conductivity.

Weak form, for nodal potentials u and electrode potentials U (L,):

    int sigma grad u . grad v  +  sum_l 1/z_l int_{e_l} (u - U_l)(v - V_l) ds  =  sum_l I_l V_l

Grounding ``sum_l U_l = 0`` is imposed by writing ``U = Q U~`` with the (L, L-1) basis
``Q = [I; -1^T]`` of sum-zero vectors.  The reduced unknown ``[u; U~]`` of size N + L - 1
solves an SPD system ``K(sigma) [u; U~] = [0; Q^T I]``, affine in sigma:

    K(sigma) = K0 + sum_e sigma_e K_e,     K_e = |T_e| G_e^T G_e  (P1 stiffness of element e).

In 3-D, z_l is in Ohm m^2 and the electrodes are patches of boundary triangles; in 2-D, z_l is in
Ohm m and the problem is per metre of depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from skfem import Basis, BilinearForm, ElementTetP1, ElementTriP1, FacetBasis, LinearForm, Mesh, MeshTet, asm


@BilinearForm
def _facet_mass(u, v, w):
    return u * v


@LinearForm
def _facet_load(v, w):
    return v


def ground_basis(L: int) -> np.ndarray:
    """(L, L-1) basis ``[I; -1^T]`` of the sum-zero electrode potentials."""
    return np.vstack([np.eye(L - 1), -np.ones((1, L - 1))])


def p1_element(mesh: Mesh):
    """The P1 element of a triangle or tetrahedral mesh."""
    return ElementTetP1() if isinstance(mesh, MeshTet) else ElementTriP1()


def p1_local_gradients(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Gradients (d+1, d, ne) of the local P1 basis functions and element measures (ne,):
    areas (m^2) in 2-D, volumes (m^3) in 3-D."""
    basis = Basis(mesh, p1_element(mesh), intorder=1)
    grads = np.stack([basis.basis[i][0].grad[:, :, 0] for i in range(mesh.t.shape[0])])
    return grads, basis.dx.sum(axis=1)


def gradient_matrix(mesh: Mesh, local_grads: np.ndarray) -> sp.csr_matrix:
    """Sparse (d ne, N) ``G``: ``(G @ u).reshape(d, ne)`` is grad u on each element."""
    (k, d, ne), N = local_grads.shape, mesh.p.shape[1]
    rows = np.arange(d * ne).reshape(d, ne)[None].repeat(k, axis=0)  # (d+1, d, ne)
    cols = mesh.t[:, None, :].repeat(d, axis=1)                       # (d+1, d, ne)
    return sp.csr_matrix((local_grads.ravel(), (rows.ravel(), cols.ravel())), shape=(d * ne, N))


def electrode_forms(mesh: Mesh, facets: list[np.ndarray],
                    z: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """CEM boundary terms: ``B = sum_l 1/z_l M_l`` (N, N), ``C`` (N, L) with columns
    ``-1/z_l int_{e_l} phi_i``, and ``d_l = |e_l| / z_l`` (L,)."""
    N = mesh.p.shape[1]
    B = sp.csr_matrix((N, N))
    cols, d = [], []
    for f, zl in zip(facets, z, strict=True):
        fb = FacetBasis(mesh, p1_element(mesh), facets=np.asarray(f))
        B = B + asm(_facet_mass, fb) / zl
        load = asm(_facet_load, fb)
        cols.append(-load / zl)
        d.append(load.sum() / zl)
    return B.tocsr(), sp.csr_matrix(np.stack(cols, axis=1)), np.asarray(d)


@dataclass
class CEMSystem:
    """The reduced CEM matrix as an affine function of the element conductivities.

    ``matrix(sigma)`` is a CSC matrix with data ``data0 + data_map @ sigma`` on a fixed pattern.
    """

    n_nodes: int
    n_electrodes: int
    G: sp.csr_matrix          # (d ne, N) element gradients
    areas: np.ndarray         # (ne,) element measures (areas in 2-D, volumes in 3-D)
    data0: np.ndarray         # (nnz,)
    data_map: sp.csr_matrix   # (nnz, ne)
    indices: np.ndarray
    indptr: np.ndarray
    C: sp.csr_matrix          # (N, L) electrode coupling, columns -1/z_l int_{e_l} phi_i
    d: np.ndarray             # (L,) |e_l| / z_l

    @property
    def size(self) -> int:
        return self.n_nodes + self.n_electrodes - 1

    def matrix(self, sigma: np.ndarray) -> sp.csc_matrix:
        """The CEM matrix (size, size), CSC, for element conductivities ``sigma`` (ne,):
        data ``data0 + data_map @ sigma`` on the fixed pattern."""
        data = self.data0 + self.data_map @ sigma
        return sp.csc_matrix((data, self.indices, self.indptr), shape=(self.size, self.size))

    def rhs(self, currents: np.ndarray) -> np.ndarray:
        """(size, P) right-hand sides for current patterns ``currents`` (P, L)."""
        out = np.zeros((self.size, currents.shape[0]))
        out[self.n_nodes:] = ground_basis(self.n_electrodes).T @ currents.T
        return out

    def unit_rhs(self) -> np.ndarray:
        """(size, L-1) right-hand sides ``[0; I_{L-1}]`` of the unit fields."""
        out = np.zeros((self.size, self.n_electrodes - 1))
        out[self.n_nodes:] = np.eye(self.n_electrodes - 1)
        return out

    def electrode_potentials(self, solution: np.ndarray) -> np.ndarray:
        """Grounded electrode potentials (P, L) from solutions (size, P)."""
        return (ground_basis(self.n_electrodes) @ solution[self.n_nodes:]).T

    def electrode_currents(self, solution: np.ndarray) -> np.ndarray:
        """Currents (P, L) leaving through each electrode, ``1/z_l int_{e_l} (U_l - u) ds``."""
        U = self.electrode_potentials(solution)
        return self.d[None, :] * U + (self.C.T @ solution[: self.n_nodes]).T

    @property
    def dim(self) -> int:
        return self.G.shape[0] // self.areas.size

    def element_gradients(self, solution: np.ndarray) -> np.ndarray:
        """(d, ne, P) gradients of the nodal parts of solutions (size, P)."""
        return (self.G @ solution[: self.n_nodes]).reshape(self.dim, self.areas.size, -1)

    def stiffness_action(self, weights: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        """``sum_e weights_e K_e x`` for fields with element gradients (d, ne, P) -> (size, P)."""
        flux = (self.areas * weights)[None, :, None] * gradients
        out = np.zeros((self.size, gradients.shape[2]))
        out[: self.n_nodes] = self.G.T @ flux.reshape(self.dim * self.areas.size, -1)
        return out


def cem_system(mesh: Mesh, facets: list[np.ndarray], z: np.ndarray) -> CEMSystem:
    """Precompute the sparsity pattern and the affine map sigma -> K(sigma)."""
    N, L = mesh.p.shape[1], len(facets)
    grads, areas = p1_local_gradients(mesh)
    G = gradient_matrix(mesh, grads)
    ne = areas.size
    Q = ground_basis(L)
    B, C, d = electrode_forms(mesh, facets, np.asarray(z, dtype=np.float64))
    CQ = sp.coo_matrix(C @ sp.csr_matrix(Q))
    QDQ = Q.T @ (d[:, None] * Q)
    Bc = B.tocoo()
    ir, ic = np.nonzero(np.ones_like(QDQ))
    const_rows = np.concatenate([Bc.row, CQ.row, N + CQ.col, N + ir])
    const_cols = np.concatenate([Bc.col, N + CQ.col, CQ.row, N + ic])
    const_vals = np.concatenate([Bc.data, CQ.data, CQ.data, QDQ[ir, ic]])
    # element stiffness entries K_e[i, j] = |T_e| grad phi_i . grad phi_j, shape (ne, d+1, d+1)
    dofs, k = mesh.t, mesh.t.shape[0]
    ke = areas[:, None, None] * np.einsum("idn,jdn->nij", grads, grads)
    el_rows = np.repeat(dofs.T, k, axis=1).ravel()
    el_cols = np.tile(dofs.T, (1, k)).ravel()
    el_idx = np.repeat(np.arange(ne), k * k)
    size = N + L - 1
    key = np.concatenate([const_cols, el_cols]).astype(np.int64) * size + np.concatenate(
        [const_rows, el_rows])
    uniq, inv = np.unique(key, return_inverse=True)
    nnz = uniq.size
    n_const = const_rows.size
    data0 = np.bincount(inv[:n_const], weights=const_vals, minlength=nnz)
    data_map = sp.csr_matrix((ke.ravel(), (inv[n_const:], el_idx)), shape=(nnz, ne))
    cols_u = uniq // size
    indptr = np.searchsorted(cols_u, np.arange(size + 1)).astype(np.int64)
    return CEMSystem(N, L, G, areas, data0, data_map, (uniq % size).astype(np.int64), indptr, C, d)
