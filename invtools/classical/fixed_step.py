"""The regularised linearised step for a fixed Jacobian, with one factor per data mask: on the
host (NumPy/LAPACK) or on a torch device (the GPU), where it is the initial guess ``x0`` of the
tank's nets for any mask at the cost of two triangular solves."""

from __future__ import annotations

import numpy as np
import torch

Tensor = torch.Tensor


def kept_values(y: np.ndarray) -> np.ndarray:
    """(m,) bool: the values of data y (m,) that exist (NaN marks a missing one); refuses data
    with none."""
    return check_some_kept(np.isfinite(y))


def check_some_kept(keep: np.ndarray) -> np.ndarray:
    """``keep`` (m,) bool, refused when no value is kept."""
    if not keep.any():
        raise ValueError("every data value is missing (NaN): nothing to reconstruct from")
    return keep


class FixedJacobianStep:
    """The regularised linearised step ``(J_M^T J_M + lam R)^{-1} J_M^T r_M`` for a fixed
    Jacobian J (m, n) and prior R (n, n), where M are the rows a sample keeps (NaN in r marks a
    missing value): one Cholesky factor per mask, cached (a new mask costs one n x n factorisation).

    ``device=None``: NumPy arrays on the host. Complete data take one ``np.linalg.solve`` per
    sample (as data sets without masks were made), so a sample's step never depends on the batch it came in
    (data sets are sharded by sample). A torch ``device``: J, the Gram matrix and every mask's
    factor live there and :meth:`solve` takes and returns tensors on it, one sample at a time
    (again independent of the batch); it equals the host path to rounding.
    """

    def __init__(self, J, R, lam: float, cache_size: int = 64, device: str | torch.device | None = None):
        self.lam, self.cache_size = float(lam), cache_size
        self.device = None if device is None else torch.device(device)
        R = R.toarray() if hasattr(R, "toarray") else R
        if self.device is None:
            self.J = np.asarray(J.detach().cpu() if isinstance(J, Tensor) else J, dtype=np.float64)
            self.R = np.asarray(R, dtype=np.float64)
        else:
            self.J = torch.as_tensor(J, dtype=torch.float64).to(self.device)
            self.R = torch.as_tensor(np.asarray(R, dtype=np.float64), device=self.device)
        self.H = self.J.T @ self.J + self.lam * self.R
        self._factors: dict[bytes, object] = {}

    def _gram(self, keep):
        """``J_M^T J_M + lam R``: by subtracting the removed rows when most are kept (in the
        order of operations of the first release, so that data sets regenerate bit for bit)."""
        if int(keep.sum()) > keep.shape[0] // 2:
            Jr = self.J[~keep]
            gram = self.H - self.lam * self.R - Jr.T @ Jr
        else:
            Jk = self.J[keep]
            gram = Jk.T @ Jk
        return gram + self.lam * self.R

    def _factor(self, keep: np.ndarray):
        """The mask's Cholesky factor; the cache keeps the ``cache_size`` most recently used."""
        key = np.packbits(keep).tobytes()
        if key in self._factors:
            self._factors[key] = self._factors.pop(key)  # most recently used last
        else:
            if len(self._factors) >= self.cache_size:
                self._factors.pop(next(iter(self._factors)))
            if self.device is None:
                import scipy.linalg

                self._factors[key] = scipy.linalg.cho_factor(self._gram(keep))
            else:
                self._factors[key] = torch.linalg.cholesky(
                    self._gram(torch.as_tensor(keep, device=self.device)))
        return self._factors[key]

    def solve(self, r):
        """Steps (B, n) for residuals r (B, m), NaN where a value is missing (arrays on the host,
        tensors on the device)."""
        if self.device is not None:
            return self._solve_on_device(r)
        import scipy.linalg

        out = []
        for row in np.asarray(r, dtype=np.float64):
            keep = kept_values(row)
            if keep.all():
                out.append(np.linalg.solve(self.H, self.J.T @ row))
            else:
                out.append(scipy.linalg.cho_solve(self._factor(keep), self.J[keep].T @ row[keep]))
        return np.stack(out)

    def _solve_on_device(self, r: Tensor) -> Tensor:
        r = torch.as_tensor(r, dtype=torch.float64).to(self.device)
        masks = torch.isfinite(r).cpu().numpy()  # (B, m): one small copy for the cache keys
        out = []
        for row, keep in zip(r, masks, strict=True):
            check_some_kept(keep)
            rhs = self.J.T @ torch.nan_to_num(row)  # a missing value's row drops out
            out.append(torch.cholesky_solve(rhs[:, None], self._factor(keep))[:, 0])
        return torch.stack(out)
