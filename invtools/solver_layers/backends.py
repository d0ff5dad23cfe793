"""Solver back-ends implementing the oracle contract of :mod:`problems`."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from invtools.solver_layers.problems import (
    InfeasibleProblemError,
    QPBatch,
    Solution,
    SolverError,
    UnboundedProblemError,
)


def _map(fn, B: int, n_threads: int | None):
    n_threads = n_threads or min(B, os.cpu_count() or 1)
    if n_threads <= 1 or B == 1:
        return [fn(i) for i in range(B)]
    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(fn, range(B)))


class HighsLP:
    """LPs with scipy's HiGHS (dual simplex or IPM), batched over a thread pool."""

    def __init__(self, method: str = "highs", n_threads: int | None = None):
        self.method, self.n_threads = method, n_threads

    def __call__(self, problem: QPBatch) -> Solution:
        if problem.P is not None:
            raise ValueError("HighsLP solves LPs only (P must be None); use ClarabelQP")

        def one(i: int):
            res = linprog(problem.q[i], A_ub=problem.G, b_ub=None if problem.h is None else
                          problem.h[i], A_eq=problem.A, b_eq=None if problem.b is None else
                          problem.b[i], bounds=(None, None), method=self.method)
            if res.status == 2:
                raise InfeasibleProblemError("LP is infeasible", i)
            if res.status == 3:
                raise UnboundedProblemError("LP is unbounded", i)
            if res.status != 0:
                raise SolverError(f"HiGHS failed: {res.message}", i)
            # scipy's marginals are d(objective)/d(rhs); in our Lagrangian that is -lam, -mu
            lam = -res.eqlin.marginals if problem.A is not None else np.zeros(0)
            mu = -res.ineqlin.marginals if problem.G is not None else np.zeros(0)
            return res.x, lam, mu

        out = _map(one, problem.batch_size, self.n_threads)
        return Solution(*(np.stack(v) for v in zip(*out, strict=True)))


class ClarabelQP:
    """Convex QPs (and LPs) with the Clarabel interior-point solver (``pip install clarabel``)."""

    def __init__(self, tol: float = 1e-10, n_threads: int | None = None):
        self.tol, self.n_threads = tol, n_threads

    def __call__(self, problem: QPBatch) -> Solution:
        import clarabel

        n, m_eq, m_in = problem.n, problem.m_eq, problem.m_in
        P = sp.csc_matrix(sp.triu(problem.P if problem.P is not None else sp.csc_matrix((n, n))))
        blocks = [sp.csc_matrix(M) for M in (problem.A, problem.G) if M is not None]
        Acon = sp.vstack(blocks).tocsc() if blocks else sp.csc_matrix((0, n))
        cones = ([clarabel.ZeroConeT(m_eq)] if m_eq else []) + (
            [clarabel.NonnegativeConeT(m_in)] if m_in else [])
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = self.tol

        def one(i: int):
            rhs = np.concatenate([problem.b[i] if m_eq else np.zeros(0),
                                  problem.h[i] if m_in else np.zeros(0)])
            sol = clarabel.DefaultSolver(P, problem.q[i], Acon, rhs, cones, settings).solve()
            status = str(sol.status)
            if "Infeasible" in status and "Dual" not in status:
                raise InfeasibleProblemError(f"QP is infeasible ({status})", i)
            if "DualInfeasible" in status:
                raise UnboundedProblemError(f"QP is unbounded ({status})", i)
            if status not in ("Solved", "AlmostSolved"):
                raise SolverError(f"Clarabel: {status}", i)
            z = np.asarray(sol.z)
            return np.asarray(sol.x), z[:m_eq], z[m_eq:]

        out = _map(one, problem.batch_size, self.n_threads)
        return Solution(*(np.stack(v) for v in zip(*out, strict=True)))
