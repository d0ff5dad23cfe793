"""Banded Cholesky with a dense border for small CEM systems (the tank's image mesh).

The CEM system orders its N node unknowns first and its k = L - 1 electrode unknowns last:

    K = [[A, B], [B^T, C]]      A (N, N) sparse, B (N, k), C (k, k)

The node block A, renumbered by reverse Cuthill-McKee, is a band of half-width b; LAPACK factors
it as ``A = R R^T`` (``dpbtrf``) in about N b^2 flops, with no symbolic analysis per matrix.
With ``W = R^{-1} B`` the Schur complement is ``S = C - W^T W`` (k, k), and its inverse is the
electrode block of ``K^{-1}``: the electrode potentials of the L - 1 unit fields. The unit fields'
node values are ``-R^{-T} W S^{-1}``: one banded back substitution. A general solve takes two.

For the tank's 602 unknowns (b = 38) this is 1.7 times faster than a sparse LU of the same
system; on large meshes the band widens and the sparse LU wins, so the operator picks this
solver only where its flop count is not much larger (:func:`host_order`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.sparse.csgraph import reverse_cuthill_mckee

from forward_models.eit.solvers import EliminationOrder, SingularSystemError


class BandedOrder:
    """The band layout of a CEM sparsity pattern, computed once per operator.

    Args:
        K: (n, n) CSC matrix on the system's pattern, the node unknowns first.
        n_last: the number k of border (electrode) unknowns at the end.

    Attributes:
        perm: (N,) reverse Cuthill-McKee order of the node unknowns.
        bandwidth: the half-width b of the renumbered node block.
    """

    def __init__(self, K: sp.csc_matrix, n_last: int):
        n = K.shape[0]
        N = n - n_last
        self.n_nodes, self.n_last = N, n_last
        coo = sp.coo_matrix(K)
        nodes = (coo.row < N) & (coo.col < N)
        A = sp.csr_matrix((np.ones(nodes.sum()), (coo.row[nodes], coo.col[nodes])), shape=(N, N))
        self.perm = np.asarray(reverse_cuthill_mckee(A, symmetric_mode=True), dtype=np.int64)
        rank = np.empty(N, dtype=np.int64)
        rank[self.perm] = np.arange(N)
        # positions of K's entries (in K.data order) in the lower band, the border and the corner
        rows, cols = K.indices, np.repeat(np.arange(n), np.diff(K.indptr))
        node_entry = (rows < N) & (cols < N)
        r, c = rank[rows[node_entry]], rank[cols[node_entry]]
        lower = r >= c
        self.bandwidth = int(np.max(r - c)) if lower.any() else 0
        self._band_src = np.nonzero(node_entry)[0][lower]
        self._band_dst = ((r - c)[lower] * N + c[lower]).astype(np.int64)
        border = (rows < N) & (cols >= N)
        self._border_src = np.nonzero(border)[0]
        self._border_dst = rank[rows[border]] * n_last + (cols[border] - N)
        corner = (rows >= N) & (cols >= N)
        self._corner_src = np.nonzero(corner)[0]
        self._corner_dst = (rows[corner] - N) * n_last + (cols[corner] - N)

    def blocks(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The lower band of A (b + 1, N), the border B (N, k) in band order and the corner
        C (k, k), from the data (nnz,) of a CSC matrix on the pattern."""
        N, k = self.n_nodes, self.n_last
        band = np.zeros((self.bandwidth + 1) * N)
        band[self._band_dst] = data[self._band_src]
        B = np.zeros(N * k)
        B[self._border_dst] = data[self._border_src]
        C = np.zeros(k * k)
        np.add.at(C, self._corner_dst, data[self._corner_src])
        return band.reshape(self.bandwidth + 1, N), B.reshape(N, k), C.reshape(k, k)

    def flops(self) -> float:
        """Multiply-adds of one factorisation and its L - 1 unit fields."""
        N, b, k = self.n_nodes, self.bandwidth, self.n_last
        return N * b * b / 2 + 2.0 * N * b * k + N * k * k / 2


    def factorise(self, K: sp.csc_matrix) -> BandedSchur:
        """The factors of ``K`` (on this order's pattern)."""
        return BandedSchur(K, self)


# LAPACK's band kernels against SuperLU, multiply-adds per second: on the tank's image mesh the
# band does 2.4x the sparse LU's multiply-adds in 0.58 of its time (``python -m
# benchmarks.speed.tank --rows banded``), 4.1 times the multiply-adds per second: the band pays
# where its multiply-adds are at most about four times the sparse LU's
BANDED_SPEEDUP = 4.0


def host_order(K: sp.csc_matrix, n_last: int, banded: bool = True) -> EliminationOrder | BandedOrder:
    """The layout of a CEM pattern's host factorisations, chosen once per operator: the band
    (:class:`BandedOrder`) where its cost model, divided by ``BANDED_SPEEDUP``, is below the
    sparse LU's, else SuperLU in a fixed order with the ``n_last`` electrode unknowns last
    (:class:`~forward_models.eit.solvers.EliminationOrder`). ``banded=False``: always the latter."""
    sparse = EliminationOrder(K, n_last)
    if banded:
        band = BandedOrder(K, n_last)
        if band.flops() <= BANDED_SPEEDUP * sparse.flops():
            return band
    return sparse


class BandedSchur:
    """One factorisation of ``K`` in the layout of ``order``: the node block's banded Cholesky
    and the border's Schur complement.

    Args:
        K: (n, n) CSC matrix on the pattern ``order`` was made from.
        order: the band layout (:class:`BandedOrder`).

    Raises:
        SingularSystemError: K is not positive definite (e.g. a zero or non-finite conductivity).
    """

    def __init__(self, K: sp.csc_matrix, order: BandedOrder):
        self.order = order
        band, B, C = order.blocks(K.data)
        if not (np.isfinite(band).all() and np.isfinite(B).all() and np.isfinite(C).all()):
            raise SingularSystemError("CEM system has non-finite entries")
        self._R, info = lapack.dpbtrf(band, lower=1)
        if info != 0:
            raise SingularSystemError(f"CEM system is not positive definite (banded Cholesky "
                                      f"failed at node {info})")
        self._W = self._forward(B)  # R^{-1} B (N, k)
        S = C - self._W.T @ self._W
        try:
            self._S = sl.cho_factor(S, lower=True, check_finite=False)
        except np.linalg.LinAlgError as err:
            raise SingularSystemError(f"CEM system's electrode block is singular: {err}") from err

    def _forward(self, rhs: np.ndarray) -> np.ndarray:
        x, info = lapack.dtbtrs(self._R, rhs, uplo="L", trans="N")
        if info != 0:
            raise SingularSystemError(f"banded triangular solve failed (info={info})")
        return x

    def _backward(self, rhs: np.ndarray) -> np.ndarray:
        x, info = lapack.dtbtrs(self._R, rhs, uplo="L", trans="T")
        if info != 0:
            raise SingularSystemError(f"banded triangular solve failed (info={info})")
        return x

    def trailing_inverse(self) -> np.ndarray:
        """``S^{-1}`` (k, k): the electrode block of ``K^{-1}``."""
        return sl.cho_solve(self._S, np.eye(self.order.n_last), check_finite=False)

    def unit_fields(self) -> np.ndarray:
        """``K^{-1} [0; I_k]`` (n, k): the unit fields, by one back substitution."""
        S_inv = self.trailing_inverse()
        return self._assemble(self._backward(-self._W @ S_inv), S_inv)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for ``rhs`` of shape (n,) or (n, m)."""
        cols = rhs.reshape(rhs.shape[0], -1)
        N, perm = self.order.n_nodes, self.order.perm
        z = self._forward(np.ascontiguousarray(cols[:N][perm]))
        x_border = sl.cho_solve(self._S, cols[N:] - self._W.T @ z, check_finite=False)
        return self._assemble(self._backward(z - self._W @ x_border), x_border).reshape(rhs.shape)

    def _assemble(self, nodes_in_band_order: np.ndarray, border: np.ndarray) -> np.ndarray:
        N = self.order.n_nodes
        out = np.empty((N + border.shape[0], border.shape[1]))
        out[self.order.perm] = nodes_in_band_order
        out[N:] = border
        return out
