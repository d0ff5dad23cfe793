"""Quadratic priors and the choice of their weight for linearised problems.

For a linearisation ``J`` (m, n), data misfit ``r`` (m,) and prior matrix ``R`` (n, n),
:class:`TikhonovFamily` solves ``min_d ||J d - r||^2 + lam d^T R d`` for every ``lam`` at
once from one generalised eigen-decomposition ``J^T J V = R V diag(s)``, ``V^T R V = I``:
``d(lam) = V (V^T J^T r) / (s + lam)``.  The weight is picked by Morozov's discrepancy
principle when the noise norm is known, else by the corner of the L-curve.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from invtools.geometry import smoothness_laplacian

PRIORS = ("tikhonov", "laplacian")


def prior_matrix(kind: str, shape: tuple[int, ...], adjacency: sp.spmatrix | None = None,
                 ridge: float = 1e-3) -> np.ndarray:
    """Dense symmetric positive-definite prior matrix (n, n).

    ``tikhonov``: identity. ``laplacian``: the graph Laplacian of the input (mesh adjacency, 1-D
    path or 2-D grid; penalises differences between neighbours) plus ``ridge`` times its mean
    diagonal, so that constant offsets are weakly penalised too.
    """
    n = int(np.prod(shape))
    if kind == "tikhonov":
        return np.eye(n)
    if kind == "laplacian":
        L = smoothness_laplacian(tuple(shape), adjacency).toarray()
        return L + ridge * float(np.mean(np.diag(L))) * np.eye(n)
    raise ValueError(f"unknown prior {kind!r}; choose one of {PRIORS}")


class TikhonovFamily:
    """All Tikhonov solutions of one linearised problem (see the module docstring)."""

    def __init__(self, J: np.ndarray, r: np.ndarray, R: np.ndarray):
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(r))):
            raise ValueError("linearised problem has non-finite entries (NaN or Inf in data or Jacobian)")
        s, V = scipy.linalg.eigh(J.T @ J, R)
        self.s, self.V = np.clip(s, 0.0, None), V
        self.c = V.T @ (J.T @ r)
        self.JV, self.r = J @ V, r

    def step(self, lam: float) -> np.ndarray:
        """The minimiser ``d(lam)`` (n,)."""
        return self.V @ (self.c / (self.s + lam))

    def grid(self, n: int = 80) -> np.ndarray:
        """Log-spaced weights spanning the spectrum of ``J^T J`` relative to ``R``."""
        top = max(float(self.s.max()), 1e-300)
        return np.logspace(np.log10(top) - 12, np.log10(top) + 1, n)

    def norms(self, lams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual norms ``||J d - r||`` and prior norms ``sqrt(d^T R d)`` for each weight."""
        coef = self.c[None, :] / (self.s[None, :] + np.asarray(lams)[:, None])
        residual = np.linalg.norm(coef @ self.JV.T - self.r[None, :], axis=1)
        return residual, np.linalg.norm(coef, axis=1)

    def discrepancy(self, noise_norm: float, tau: float = 1.0) -> float:
        """The largest weight whose residual is at most ``tau * noise_norm`` (Morozov)."""
        lams = self.grid()
        residual, _ = self.norms(lams)
        ok = np.nonzero(residual <= tau * noise_norm)[0]
        return float(lams[ok[-1]] if ok.size else lams[0])

    def lcurve(self) -> float:
        """The weight at the point of maximum curvature of ``(log residual, log prior norm)``."""
        lams = self.grid()
        residual, size = self.norms(lams)
        a, b = np.log(np.maximum(residual, 1e-300)), np.log(np.maximum(size, 1e-300))
        t = np.log(lams)
        da, db = np.gradient(a, t), np.gradient(b, t)
        dda, ddb = np.gradient(da, t), np.gradient(db, t)
        curvature = (da * ddb - db * dda) / np.maximum((da**2 + db**2) ** 1.5, 1e-300)
        inner = slice(2, len(lams) - 2)
        return float(lams[inner][np.argmax(curvature[inner])])

    def choose(self, noise_norm: float | None = None) -> float:
        """Discrepancy principle if ``noise_norm`` is given, else the L-curve corner."""
        return self.discrepancy(noise_norm) if noise_norm is not None else self.lcurve()
