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

from invtools.operators.geometry import difference_matrix, smoothness_laplacian

PRIORS = ("tikhonov", "laplacian", "tv")


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


class QuadraticPrior:
    """``0.5 d^T R d`` for d = x - x_ref, R from :func:`prior_matrix`."""

    def __init__(self, R: np.ndarray):
        self.R = R

    def value(self, d: np.ndarray) -> float:
        """The prior ``0.5 d^T R d`` of d (n,)."""
        return 0.5 * float(d @ self.R @ d)

    def gradient(self, d: np.ndarray) -> np.ndarray:
        """Its gradient ``R d`` (n,)."""
        return self.R @ d

    def hessian(self, d: np.ndarray) -> np.ndarray:
        """Its Hessian ``R`` (n, n), the same at every d."""
        return self.R


class TVPrior:
    """Smoothed total variation ``sum_pairs sqrt((D d)^2 + eps^2) - eps`` over neighbour pairs
    (:func:`~invtools.operators.geometry.difference_matrix`), plus the Laplacian prior's small ridge so
    that constants are weakly penalised. ``hessian`` is the lagged-diffusivity (IRLS) matrix
    ``D^T diag(1 / sqrt((D d)^2 + eps^2)) D``, so each Gauss-Newton step solves a reweighted
    quadratic problem; at d = 0 it is the Laplacian divided by eps."""

    def __init__(self, shape: tuple[int, ...], adjacency: sp.spmatrix | None, eps: float,
                 ridge: float = 1e-3):
        self.D = difference_matrix(tuple(shape), adjacency)
        self.eps = eps
        degree = np.asarray(abs(self.D).T @ np.ones(self.D.shape[0])).ravel()
        self.ridge = ridge * float(np.mean(degree)) / eps

    def _weights(self, d: np.ndarray) -> np.ndarray:
        return 1.0 / np.sqrt((self.D @ d) ** 2 + self.eps**2)

    def value(self, d: np.ndarray) -> float:
        """The smoothed TV of d (n,) plus the ridge term ``0.5 ridge ||d||^2``."""
        Dd = self.D @ d
        return float(np.sum(np.sqrt(Dd**2 + self.eps**2) - self.eps)) + 0.5 * self.ridge * float(d @ d)

    def gradient(self, d: np.ndarray) -> np.ndarray:
        """Its gradient ``D^T (w * D d) + ridge d`` (n,), w = 1 / sqrt((D d)^2 + eps^2)."""
        return self.D.T @ (self._weights(d) * (self.D @ d)) + self.ridge * d

    def hessian(self, d: np.ndarray) -> np.ndarray:
        """The dense lagged-diffusivity (IRLS) matrix ``D^T diag(w) D + ridge I`` (n, n) at d
        (not the exact Hessian; see the class docstring)."""
        H = (self.D.T @ sp.diags(self._weights(d)) @ self.D).toarray()
        return H + self.ridge * np.eye(H.shape[0])


def make_prior(kind: str, shape: tuple[int, ...], adjacency: sp.spmatrix | None = None,
               tv_smoothing: float = 0.01) -> QuadraticPrior | TVPrior:
    """The prior ``kind`` (one of :data:`PRIORS`) on samples of ``shape``; ``tv_smoothing`` is
    the TV's eps, in the unit of the unknowns (e.g. log-conductivity)."""
    if kind == "tv":
        return TVPrior(shape, adjacency, tv_smoothing)
    return QuadraticPrior(prior_matrix(kind, shape, adjacency))


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

    def discrepancy(self, noise_norm: float, tau: float = 1.0) -> float | None:
        """The largest weight whose residual is at most ``tau * noise_norm`` (Morozov); None when
        no weight reaches it (model error above the noise, e.g. a coarse image mesh)."""
        lams = self.grid()
        residual, _ = self.norms(lams)
        ok = np.nonzero(residual <= tau * noise_norm)[0]
        return float(lams[ok[-1]]) if ok.size else None

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
        """Discrepancy principle if ``noise_norm`` is given and some weight reaches it, else the
        L-curve corner (the smallest weight of the grid would fit the model error instead)."""
        lam = self.discrepancy(noise_norm) if noise_norm is not None else None
        return self.lcurve() if lam is None else lam
