"""Linear-solver back-ends for the SPD CEM system: one factorisation, many right-hand sides."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla


class SingularSystemError(RuntimeError):
    """The CEM system could not be factorised or solved (e.g. zero or non-finite conductivity)."""


# scipy books SuperLU's allocations in a table per thread, and releasing a factor frees its
# memory only on the thread that made it: released anywhere else, the memory is lost for good.
# Autograd releases a batch's factors on the caller's thread, so factors made by the batch
# workers are handed back to their own thread here and freed there at its next factorisation.
_foreign_released: dict[int, list] = {}
_foreign_lock = threading.RLock()  # re-entrant: __del__ can run inside a locked block (GC)


def _free_factors_released_elsewhere() -> None:
    """Free, on this thread, the factors it made that other threads have released."""
    with _foreign_lock:
        factors = _foreign_released.pop(threading.get_ident(), None)
    del factors


def _keep_forever(obj) -> None:
    """Leak one reference, so ``obj`` is never deallocated (used when the process ends)."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


@atexit.register
def _keep_factors_at_exit() -> None:
    """At exit, factors still waiting for their thread are left to the operating system: freeing
    them on another thread late in interpreter shutdown is what scipy's SuperLU cannot do safely
    (its allocation tracker belongs to the thread that made them)."""
    with _foreign_lock:
        for factors in _foreign_released.values():
            for lu in factors:
                _keep_forever(lu)
        _foreign_released.clear()


def factors_awaiting_release() -> int:
    """How many released factors wait for their own thread to free them (usually one batch; more
    while a pool thread gets no work)."""
    with _foreign_lock:
        return sum(len(v) for v in _foreign_released.values())


class DirectSolver:
    """Sparse LU (SuperLU) in symmetric mode with a minimum-degree ordering of A + A^T.

    The factor is freed on the thread that made it (see ``_foreign_released``): a solver may be
    used and released on any thread, but threads that make solvers must outlive them, as the
    workers of :func:`worker_pool` do.
    """

    def __init__(self, K: sp.csc_matrix, permc_spec: str = "MMD_AT_PLUS_A"):
        _free_factors_released_elsewhere()
        self._owner = threading.get_ident()
        try:
            self._lu = sla.splu(K, permc_spec=permc_spec, diag_pivot_thresh=0.0,
                                options={"SymmetricMode": True})
        except RuntimeError as err:  # "Factor is exactly singular"
            raise SingularSystemError(f"CEM system is singular: {err}") from err

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for ``rhs`` of shape (n,) or (n, k)."""
        return self._lu.solve(np.ascontiguousarray(rhs))

    def __del__(self) -> None:
        lu = self.__dict__.pop("_lu", None)
        try:
            if lu is not None and sys.is_finalizing():
                _keep_forever(lu)  # interpreter shutdown: see _keep_factors_at_exit
            elif lu is not None and threading.get_ident() != self._owner:
                with _foreign_lock:
                    _foreign_released.setdefault(self._owner, []).append(lu)
        except Exception:  # noqa: BLE001, S110 (interpreter shutdown: module globals already gone)
            pass


class OrderedLU(DirectSolver):
    """Sparse LU (SuperLU, symmetric mode, no pivoting) of ``K`` in a fixed elimination order:
    a fill-reducing order of the nodes, then the L - 1 electrode unknowns last.

    The order (:class:`EliminationOrder`) is computed once per operator, for the system's
    sparsity pattern, instead of once per factorisation. With the
    electrode unknowns eliminated last, the trailing blocks of the factors give the Schur
    complement ``S = L_ee U_ee`` of the nodes, and ``S^{-1}`` is the electrode block of
    ``K^{-1}``: the electrode potentials of all unit fields with no solve.

    Args:
        K: (n, n) CSC matrix on the system's pattern.
        order: the elimination order (n,) and ``gather`` (nnz,), the positions of the permuted
            matrix's entries in ``K.data`` (:class:`EliminationOrder`).
    """

    def __init__(self, K: sp.csc_matrix, order: EliminationOrder):
        self.order, self.n_last = order, order.n_last
        permuted = sp.csc_matrix((K.data[order.gather], order.indices, order.indptr), shape=K.shape)
        super().__init__(permuted, permc_spec="NATURAL")
        self._schur_ok = bool(np.array_equal(self._lu.perm_c, np.arange(K.shape[0]))
                              and np.array_equal(self._lu.perm_r, self._lu.perm_c))

    def unit_fields(self) -> np.ndarray:
        """``K^{-1} [0; I]`` (n, n_last): the unit fields of the trailing unknowns."""
        rhs = np.zeros((self.order.perm.size, self.n_last))
        rhs[-self.n_last:] = np.eye(self.n_last)
        return self.solve(rhs)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for ``rhs`` of shape (n,) or (n, k)."""
        out = np.empty_like(rhs, dtype=np.float64)
        out[self.order.perm] = self._lu.solve(np.ascontiguousarray(rhs[self.order.perm]))
        return out

    def trailing_inverse(self) -> np.ndarray:
        """The trailing (n_last, n_last) block of ``K^{-1}`` (the electrode block), from the
        factors' trailing blocks (by two solves when SuperLU reordered them)."""
        k = self.n_last
        if not self._schur_ok:
            rhs = np.zeros((self.order.perm.size, k))
            rhs[-k:] = np.eye(k)
            return self.solve(rhs)[-k:]
        from scipy.linalg import solve_triangular

        L = self._lu.L[-k:, -k:].toarray()
        U = self._lu.U[-k:, -k:].toarray()
        return solve_triangular(U, solve_triangular(L, np.eye(k), lower=True, unit_diagonal=True))


class EliminationOrder:
    """A fixed symmetric elimination order of a sparsity pattern with ``n_last`` unknowns kept
    last, and the permuted pattern (``indices``, ``indptr``) with the positions ``gather`` of
    its entries in the original CSC data."""

    def __init__(self, K: sp.csc_matrix, n_last: int):
        n = K.shape[0]
        lu = sla.splu(K, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
        first = np.argsort(lu.perm_c)  # the elimination order SuperLU chose
        self.perm = np.concatenate([first[first < n - n_last], np.arange(n - n_last, n)])
        self.n_last = n_last
        positions = sp.csc_matrix((np.arange(1, K.nnz + 1, dtype=np.float64), K.indices, K.indptr),
                                  shape=K.shape)
        permuted = positions[self.perm][:, self.perm].tocsc()
        permuted.sort_indices()
        self.indices, self.indptr = permuted.indices, permuted.indptr
        self.gather = permuted.data.astype(np.int64) - 1
        self._column_counts = np.diff(sp.csc_matrix(lu.L).indptr).astype(np.float64)

    def flops(self) -> float:
        """Multiply-adds of one factorisation (a Cholesky with this fill) and the two triangular
        solves of the ``n_last`` unit fields: the cost model the band layout is compared with."""
        c = self._column_counts
        return float(np.sum(c * c) / 2 + 2.0 * c.sum() * self.n_last)

    def factorise(self, K: sp.csc_matrix) -> OrderedLU:
        """The factors of ``K`` (on this order's pattern)."""
        return OrderedLU(K, self)


class AMGSolver:
    """Conjugate gradients preconditioned by pyamg smoothed aggregation (large meshes)."""

    def __init__(self, K: sp.csc_matrix, rtol: float = 1e-10, maxiter: int = 500):
        import pyamg

        self._K = K.tocsr()
        self._M = pyamg.smoothed_aggregation_solver(self._K, symmetry="hermitian").aspreconditioner()
        self.rtol, self.maxiter = rtol, maxiter

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for ``rhs`` of shape (n,) or (n, k), column by column (a zero column gives
        zero); raises :class:`SingularSystemError` if CG does not converge."""
        cols = rhs.reshape(rhs.shape[0], -1)
        out = np.empty_like(cols)
        for j in range(cols.shape[1]):
            if not np.any(cols[:, j]):
                out[:, j] = 0.0
                continue
            out[:, j], info = sla.cg(self._K, cols[:, j], rtol=self.rtol, maxiter=self.maxiter,
                                     M=self._M)
            if info != 0:
                raise SingularSystemError(f"CG did not converge (info={info}) on column {j}")
        return out.reshape(rhs.shape)


_BLAS_CONTROLLER = None


def blas_threads(threads: int | None) -> contextlib.AbstractContextManager:
    """Context that caps BLAS threads (OpenBLAS, MKL) at ``threads``; None leaves them as is.

    SuperLU's triangular solves on CEM-sized systems are many small BLAS calls: a second BLAS
    thread costs more than it saves (and oversubscribes the cores when the batch is solved on
    a thread pool), so the forward model solves with one BLAS thread per worker by default.
    """
    global _BLAS_CONTROLLER
    if threads is None:
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=threads, user_api="blas")


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def worker_pool(n_threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``n_threads`` persistent threads (one per process after a fork).

    Persistent, not one executor per call: a factor can only be freed by the thread that made
    it, so the threads that factorise must live on.
    """
    key = (os.getpid(), n_threads)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = ThreadPoolExecutor(n_threads, thread_name_prefix="invtools-cem")
        return _POOLS[key]


DENSE_MAX_UNKNOWNS = 8_000  # a dense (n, n) float64 factor of 8k unknowns takes 512 MB


class DenseSolver:
    """Dense Cholesky (LAPACK ``potrf`` through torch) of the reduced SPD system, on ``device``.

    For small meshes (the tank's image mesh, the training meshes): one dense factorisation, then
    triangular solves by BLAS-3 on all right-hand sides at once. It runs where torch runs, so the
    same class factorises on a GPU when ``device="cuda"``; on the CPU it is selectable with
    ``solver="dense"`` and equals the sparse LU to rounding.

    Args:
        K: (n, n) sparse SPD matrix, n <= ``DENSE_MAX_UNKNOWNS``.
        device: torch device of the factor.
    """

    def __init__(self, K: sp.spmatrix, device: str = "cpu"):
        import torch

        n = K.shape[0]
        if n > DENSE_MAX_UNKNOWNS:
            raise ValueError(f"solver 'dense' is for systems of at most {DENSE_MAX_UNKNOWNS} "
                             f"unknowns; this one has {n} (use 'direct' or 'amg')")
        dense = torch.from_numpy(K.toarray()).to(device)
        if not bool(torch.isfinite(dense).all()):
            raise SingularSystemError("CEM system has non-finite entries")
        self._factor, info = torch.linalg.cholesky_ex(dense)
        if int(info) != 0:
            raise SingularSystemError(f"CEM system is singular or not positive definite "
                                      f"(Cholesky failed at column {int(info)})")

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for ``rhs`` of shape (n,) or (n, k)."""
        import torch

        cols = torch.from_numpy(np.ascontiguousarray(rhs).reshape(rhs.shape[0], -1))
        out = torch.cholesky_solve(cols.to(self._factor.device), self._factor)
        return out.cpu().numpy().reshape(rhs.shape)


SOLVERS = {"direct": DirectSolver, "amg": AMGSolver, "dense": DenseSolver}
AUTO_AMG_THRESHOLD = 200_000  # unknowns above which "auto" picks AMG-CG


def make_solver(K: sp.csc_matrix, kind: str = "auto"):
    """A solver for ``K``: ``"direct"``, ``"amg"``, ``"dense"`` or ``"auto"`` (sparse LU, AMG above
    200k unknowns)."""
    if kind == "auto":
        kind = "amg" if K.shape[0] > AUTO_AMG_THRESHOLD else "direct"
    if kind not in SOLVERS:
        raise ValueError(f"unknown solver {kind!r}; choose from {['auto', *SOLVERS]}")
    return SOLVERS[kind](K)
