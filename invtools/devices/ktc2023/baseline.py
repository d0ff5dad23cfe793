"""The KTC2023 organisers' baseline (one linearised difference step, Otsu segmentation), on our
32 x 32 pixel tank operator.

What their Python code does (read in the copies of the organisers' ``Codes_Python`` that teams
published: CUQI-DTU/KTC2023-CUQI9 ``Codes_Python/main.py``, ``KTCRegularization.py``,
``Codes_Python/KTCScoring.py``; msantacesaria/KTC2023_PNPE2E ``KTCFwd.py``, ``KTCAux.py``):

- ``main.py``: linearisation point sigma0 = 1 S/m everywhere (nodes of ``Mesh_sparse.mat``),
  contact impedances 1e-6, prior ``SMPrior(g, corrlength=0.115, var=0.05**2, mean=sigma0)``,
  noise ``SetInvGamma(0.05, 0.01, Uelref)``; data ``deltaU = Uel - Uelref``; one step
  ``delta = (J' W J + L' L)^-1 J' W deltaU`` with J at sigma0 (rows of ``vincl`` only), W the
  inverse noise covariance restricted to ``vincl``; the prior mean does not enter.
- level rule (``vincl``, 31 x 76, flattened injection-major): electrodes 0 .. 2(level-1)-1 are
  removed; an injection with current on any of them loses all rows; measurement row j is
  removed from every injection for those j. (Their loop visits injections 0..74 only; the last
  one, 30 -> 24, never drives a removed electrode, so nothing changes.) Here the mask comes
  with the data (NaN); :func:`invtools.data.missing_data.level_mask` gives the same rows.
- ``KTCRegularization.SMPrior``: Gamma_ij = (var - c) exp(-d_ij^2 / (2 b^2)) + c delta_ij,
  c = 1e-9, b = sqrt(-corrlength^2 / (2 ln 0.01)) (the correlation is 0.01 at d = corrlength);
  ``L = cholesky(inv(Gamma)).T``, upper triangular, so ``L' L = inv(Gamma)``.
- ``KTCFwd.EITFEM.SetInvGamma``: var_i = (std1/100 |u_i|)^2 + (std2/100 max|u|)^2 over the
  whole reference ``Uelref``; the arguments are percentages (0.05 % and 0.01 %).
- ``KTCAux.interpolateRecoToPixGrid``: the nodal values linearly interpolated (Delaunay) at
  256 x 256 points ``linspace(-0.115 + w/2, 0.115 + w/2, 256)``, w = 0.23/256, in x and y, 0
  outside the mesh, rows flipped (row 0 at the top).
- ``KTCScoring.Otsu2(image, 256)``: histogram of all 65536 pixels (the zeros outside the tank
  included), 256 bins; the split of the bins into [0, j), [j, i), [i, 256) that maximises
  sum_k w_k (mu_k - mu_T)^2 (mu in bin-index units, last maximum kept), thresholds at the bin
  centres x[j-1], x[i-1]. ``main.py`` then: class A below x[j-1], B in [x[j-1], x[i-1]], C
  above; the most populous is water (0); below water resistive (1), above conductive (2).

Here: the unknowns are our operator's pixels, so the prior lives at the 32 x 32 pixel centres
(all of them: pixels the data cannot see take the prior's conditional mean, which leaves the
visible pixels' solution unchanged and gives the interpolation values up to the rim). For
point values on a square grid, linear interpolation is bilinear (no arbitrary diagonal),
extrapolated linearly in the 3.6 mm between the outer pixel centres and the wall; 0 outside the
disk, at the organisers' sample points (their 256/255 stretch kept). ``grid_to_pixels``
(nearest pixel, NaN outside) is therefore not used.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.interpolate import RegularGridInterpolator

KTC_RADIUS = 0.115  # m
CORR_LENGTH = 0.115  # m, main.py: corrlength = 1 * 0.115
PRIOR_STD = 0.05  # S/m, main.py: var_sigma = 0.05 ** 2
PRIOR_NUGGET = 1e-9  # KTCRegularization.SMPrior: c
SIGMA0 = 1.0  # S/m, main.py: sigma0 = ones
NOISE_STD1 = 0.05  # percent of |u_ref_i|, main.py: noise_std1
NOISE_STD2 = 0.01  # percent of max |u_ref|, main.py: noise_std2
OTSU_BINS = 256  # main.py: Otsu2(..., 256, ...)


def pixel_centres(n: int = 32, radius: float = KTC_RADIUS) -> np.ndarray:
    """(n*n, 2) centres (x, y) in m of an n x n image over [-radius, radius]^2 in the operator's
    order: pixel (i, j), row i growing with y, is entry i*n + j."""
    c = -radius + (np.arange(n) + 0.5) * (2 * radius / n)
    y, x = np.meshgrid(c, c, indexing="ij")
    return np.stack([x.ravel(), y.ravel()], axis=1)


def smoothness_covariance(points: np.ndarray, corr_length: float = CORR_LENGTH, std: float = PRIOR_STD,
                          nugget: float = PRIOR_NUGGET) -> np.ndarray:
    """SMPrior's squared-distance covariance (n, n), (S/m)^2, of points (n, 2) in m."""
    d2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    # exp(-d^2 / (2 b^2)) with 2 b^2 = -corr^2 / ln(0.01), i.e. 0.01 ** (d^2 / corr^2)
    gamma = (std**2 - nugget) * np.exp(d2 * np.log(0.01) / corr_length**2)
    gamma[np.diag_indices_from(gamma)] += nugget
    return gamma


def smoothness_prior(points: np.ndarray, corr_length: float = CORR_LENGTH, std: float = PRIOR_STD,
                     nugget: float = PRIOR_NUGGET) -> np.ndarray:
    """The prior's inverse square root L (n, n), upper triangular, ``L.T @ L = inv(Gamma)``
    (1/(S/m)), built as SMPrior does: the Cholesky factor of the inverted covariance."""
    precision = np.linalg.inv(smoothness_covariance(points, corr_length, std, nugget))
    precision = 0.5 * (precision + precision.T)
    return np.linalg.cholesky(precision).T


def noise_weights(u_ref: np.ndarray, mask: np.ndarray | None = None, std1: float = NOISE_STD1,
                  std2: float = NOISE_STD2) -> np.ndarray:
    """Inverse noise standard deviations (m,), 1/V, as SetInvGamma builds them from the
    reference u_ref (m,) (std1, std2 in percent); 0 where ``mask`` is False. The maximum is
    over the reference's finite values (the organisers' is complete)."""
    u = np.abs(np.asarray(u_ref, dtype=np.float64))
    top = np.nanmax(u)
    var = (std1 / 100 * u) ** 2 + (std2 / 100 * top) ** 2
    w = np.where(np.isfinite(var), 1.0 / np.sqrt(np.where(np.isfinite(var), var, 1.0)), 0.0)
    return w if mask is None else np.where(mask, w, 0.0)


class LinearisedStep:
    """``delta = (J_M' W_M J_M + L' L)^-1 J_M' W_M du_M`` for a fixed Jacobian J (m, n),
    prior factor L (n, n) and noise weights w (m,) (W = diag(w^2)), M the rows of a mask; the
    Cholesky factor of the normal matrix is kept per mask."""

    def __init__(self, J: np.ndarray, prior: np.ndarray, weights: np.ndarray):
        self.J = np.asarray(J, dtype=np.float64)
        self.precision = prior.T @ prior
        self.weights = np.asarray(weights, dtype=np.float64)
        self._factors: dict[bytes, tuple] = {}

    def _rows(self, mask: np.ndarray | None) -> np.ndarray:
        keep = self.weights != 0 if mask is None else np.asarray(mask, dtype=bool) & (self.weights != 0)
        return np.nonzero(keep)[0]

    def factor(self, mask: np.ndarray | None = None) -> tuple:
        """The Cholesky factor (scipy ``cho_factor``) of the normal matrix of the mask's rows."""
        rows = self._rows(mask)
        key = rows.tobytes()
        if key not in self._factors:
            wj = self.weights[rows, None] * self.J[rows]
            self._factors[key] = sla.cho_factor(wj.T @ wj + self.precision)
        return self._factors[key]

    def __call__(self, du: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The step (n,), S/m, for the data change du (m,) (values off the mask are ignored)."""
        rows = self._rows(mask)
        rhs = self.J[rows].T @ (self.weights[rows] ** 2 * np.asarray(du, dtype=np.float64)[rows])
        return sla.cho_solve(self.factor(mask), rhs)


def baseline_step(J: np.ndarray, du: np.ndarray, mask: np.ndarray | None, prior: np.ndarray,
                  weights: np.ndarray) -> np.ndarray:
    """One organisers' step (n,), S/m: see :class:`LinearisedStep` (build that to reuse factors)."""
    return LinearisedStep(J, prior, weights)(du, mask)


def organiser_sample_points(n: int = 256, radius: float = KTC_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) (n, n) in m where ``interpolateRecoToPixGrid`` samples, row 0 at the top: their
    ``linspace(-R + w/2, R + w/2, n)``, w = 2R/n (spacing 2R/(n-1), not w)."""
    w = 2 * radius / n
    c = np.linspace(-radius + w / 2, radius + w / 2, n)
    x, y = np.meshgrid(c, c[::-1])
    return x, y


def interpolate_to_pixels(image: np.ndarray, n: int = 256, radius: float = KTC_RADIUS) -> np.ndarray:
    """A (N, N) image of point values at the pixel centres (row index growing with y) sampled
    at the organisers' n x n points (row 0 at the top): bilinear, extrapolated linearly to the
    wall, 0 outside the disk."""
    image = np.asarray(image, dtype=np.float64)
    N = image.shape[0]
    c = -radius + (np.arange(N) + 0.5) * (2 * radius / N)
    interp = RegularGridInterpolator((c, c), image, method="linear", bounds_error=False, fill_value=None)
    x, y = organiser_sample_points(n, radius)
    out = interp(np.stack([y.ravel(), x.ravel()], axis=1)).reshape(n, n)
    return np.where(x**2 + y**2 <= radius**2, out, 0.0)


def otsu2_levels(values: np.ndarray, bins: int = OTSU_BINS) -> tuple[tuple[int, int], np.ndarray]:
    """Otsu2's bin levels (j - 1, i - 1) and the bin centres (bins,): the split of the histogram
    into bins [0, j), [j, i), [i, bins) with the largest between-class sum, last maximum kept
    (i, then j, increasing), as their double loop does."""
    counts, edges = np.histogram(np.ravel(values), bins)
    centres = (edges[:-1] + edges[1:]) / 2
    idx = np.arange(1, bins + 1)
    c0 = np.concatenate([[0], np.cumsum(counts)])  # counts of bins [0, k), exact integers
    c1 = np.concatenate([[0], np.cumsum(idx * counts)])
    mu_t = c1[-1] / c0[-1]
    i, j = np.tril_indices(bins, k=-1)  # j < i
    keep = j >= 1
    i, j = i[keep], j[keep]
    w1, w2, w3 = c0[j], c0[i] - c0[j], c0[-1] - c0[i]
    ok = (w1 > 0) & (w2 > 0) & (w3 > 0)
    if not ok.any():
        raise ValueError("Otsu2 needs values in at least three histogram bins")
    i, j, w1, w2, w3 = i[ok], j[ok], w1[ok], w2[ok], w3[ok]
    mu1 = c1[j] / w1
    mu2 = (c1[i] - c1[j]) / w2
    mu3 = (c1[-1] - c1[i]) / w3
    val = w1 * ((mu1 - mu_t) ** 2) + w2 * ((mu2 - mu_t) ** 2) + w3 * ((mu3 - mu_t) ** 2)
    best = np.nonzero(val == val.max())[0]
    last = best[np.lexsort((j[best], i[best]))[-1]]
    return (int(j[last]) - 1, int(i[last]) - 1), centres


def otsu2(image: np.ndarray, bins: int = OTSU_BINS) -> np.ndarray:
    """Labels (same shape as image), 0 water, 1 resistive, 2 conductive, by main.py's rule on
    Otsu2's thresholds: the most populous of the three classes is water."""
    image = np.asarray(image, dtype=np.float64)
    (a, b), x = otsu2_levels(image, bins)
    cls = np.where(image < x[a], 0, np.where(image > x[b], 2, 1))
    water = int(np.argmax(np.bincount(cls.ravel(), minlength=3)))  # first of equals, as list.index
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[cls < water] = 1
    labels[cls > water] = 2
    return labels


def prepare_baseline(op, y_ref: np.ndarray, sigma0: float = SIGMA0) -> LinearisedStep:
    """The step of the organisers' baseline for a pixel operator ``op`` ((N, N) images, m
    outputs): J at the constant sigma0 (S/m), the prior at the N x N pixel centres, the noise
    weights of the reference y_ref (m,)."""
    import torch

    n = op.in_shape[-1]
    J = op.jacobian(torch.full((1, *op.in_shape), float(sigma0), dtype=torch.float64))[0]
    J = np.asarray(J, dtype=np.float64).reshape(op.n_out, -1)
    extent = float(getattr(op, "extent", KTC_RADIUS))
    return LinearisedStep(J, smoothness_prior(pixel_centres(n, extent)), noise_weights(y_ref))


def organisers_baseline(y: np.ndarray, y_ref: np.ndarray, mask: np.ndarray | None, op,
                        sigma0: float = SIGMA0, step: LinearisedStep | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The organisers' reconstruction of data y (m,) against the reference y_ref (m,), rows
    ``mask`` (m,) bool kept (None: all): sigma (N, N), S/m, row index growing with y, and the
    labels (256, 256) in the organisers' frame (row 0 at the top). ``step``: a
    :func:`prepare_baseline` result to reuse (same op, y_ref, sigma0)."""
    step = prepare_baseline(op, y_ref, sigma0) if step is None else step
    du = np.nan_to_num(np.asarray(y, dtype=np.float64) - np.asarray(y_ref, dtype=np.float64))
    delta = step(du, mask).reshape(op.in_shape[-2:])
    radius = float(getattr(op, "extent", KTC_RADIUS))
    return sigma0 + delta, otsu2(interpolate_to_pixels(delta, radius=radius))
