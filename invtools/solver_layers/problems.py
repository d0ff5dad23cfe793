"""Batched convex problems and the black-box oracle contract.

A problem of the batch is the QP (an LP when ``P`` is None)

    minimize   1/2 x^T P x + q^T x
    subject to A x = b,   G x <= h

with Lagrangian ``L = 1/2 x^T P x + q^T x + lam^T (A x - b) + mu^T (G x - h)``, mu >= 0.
``q``, ``b`` and ``h`` are batched (B, .) numpy arrays; ``P``, ``A`` and ``G`` are shared by
the batch (dense or scipy.sparse), any of ``A``/``G`` may be None.

**Oracle contract.** A solver is any callable ``solver(problem) -> Solution`` returning, for
every batch element, a primal solution ``x`` (B, n) and the duals ``lam`` (B, m_eq) and
``mu`` (B, m_in) in the sign convention above, and raising :class:`InfeasibleProblemError`
(or :class:`UnboundedProblemError`) naming the batch element it failed on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp


class SolverError(RuntimeError):
    """A solver back-end failed on a batch element."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message if index is None else f"batch element {index}: {message}")
        self.index = index


class InfeasibleProblemError(SolverError):
    """The constraints of a batch element admit no point."""


class UnboundedProblemError(SolverError):
    """The objective of a batch element is unbounded below."""


Matrix = np.ndarray | sp.spmatrix


@dataclass(frozen=True)
class QPBatch:
    """A batch of QPs/LPs sharing P, A, G (see the module docstring)."""

    q: np.ndarray                   # (B, n)
    P: Matrix | None = None         # (n, n) PSD, None for an LP
    A: Matrix | None = None         # (m_eq, n)
    b: np.ndarray | None = None     # (B, m_eq)
    G: Matrix | None = None         # (m_in, n)
    h: np.ndarray | None = None     # (B, m_in)

    def __post_init__(self) -> None:
        q = np.atleast_2d(np.asarray(self.q, dtype=np.float64))
        object.__setattr__(self, "q", q)
        B, n = q.shape
        for mat, vec, name in ((self.A, "b", "A"), (self.G, "h", "G")):
            v = getattr(self, vec)
            if (mat is None) != (v is None):
                raise ValueError(f"{name} and {vec} must be given together")
            if mat is None:
                continue
            v = np.atleast_2d(np.asarray(v, dtype=np.float64))
            if v.shape[0] == 1 and B > 1:
                v = np.repeat(v, B, axis=0)
            if mat.shape[1] != n or v.shape != (B, mat.shape[0]):
                raise ValueError(f"{name} must be (m, {n}) and {vec} ({B}, m); got "
                                 f"{mat.shape} and {v.shape}")
            object.__setattr__(self, vec, v)
        if self.P is not None and self.P.shape != (n, n):
            raise ValueError(f"P must be ({n}, {n}), got {self.P.shape}")
        for name in ("q", "b", "h"):
            v = getattr(self, name)
            if v is not None and not np.all(np.isfinite(v)):
                raise ValueError(f"{name} contains NaN or Inf")

    @property
    def batch_size(self) -> int:
        return self.q.shape[0]

    @property
    def n(self) -> int:
        return self.q.shape[1]

    @property
    def m_eq(self) -> int:
        return 0 if self.A is None else self.A.shape[0]

    @property
    def m_in(self) -> int:
        return 0 if self.G is None else self.G.shape[0]

    def perturbed(self, dq: np.ndarray | None = None, db: np.ndarray | None = None,
                  dh: np.ndarray | None = None) -> QPBatch:
        """The same problems with q + dq, b + db, h + dh."""
        return replace(self, q=self.q + (0 if dq is None else dq),
                       b=None if self.b is None else self.b + (0 if db is None else db),
                       h=None if self.h is None else self.h + (0 if dh is None else dh))


@dataclass
class Solution:
    """Primal and dual solutions of a batch: x (B, n), lam (B, m_eq), mu (B, m_in)."""

    x: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
