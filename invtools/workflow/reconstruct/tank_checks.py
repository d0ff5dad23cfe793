"""Plausibility checks of tank data before difference imaging, and of the images after it.

Data that no tank could produce are refused with one line naming the file and the check:

- **size**: the measured voltages' norm over the reference's (kept values) must lie in
  [1/ :data:`MAX_SCALE`, :data:`MAX_SCALE`]. The real files lie at 0.93-1.02; simulated tank
  data reach 35 (an insulating object over an electrode), so the bound is wide; all zeros, or
  1e12 times the data, are not a tank's;
- **sign structure**: the values the model of the water tank predicts to be large (over 10% of
  its largest) must have the model's sign in at least :data:`MIN_SIGN_AGREEMENT` of cases (the
  real files: 99.9-100%, simulated tank data: 94% and above): negated, constant or scrambled
  data fail.

(The CEM's reciprocity, U(a->b on c,d) = U(c->d on a,b), is not checked: a tank's patterns
need not hold a reciprocal pair of injection and measurement.)

Images with non-physical values (non-finite, <= 0, or above :data:`MAX_CONDUCTIVITY` S/m) are
flagged: :func:`image_warnings` returns the lines for stderr and the output's ``info``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invtools.data.h5file import DataFileError

MAX_SCALE = 1e3
MIN_SIGN_AGREEMENT = 0.8
MAX_CONDUCTIVITY = 1e4  # S/m: above a metal's contrast with water by far (the preset's are <= 50)


def data_problems(y: np.ndarray, y_ref: np.ndarray, model_ref: np.ndarray) -> list[str]:
    """Why data y (m_kept,) with reference y_ref and the water model's data model_ref (both
    (m_kept,), the same values) cannot be a tank's; empty if they pass."""
    y, y_ref, model_ref = (np.asarray(a, dtype=np.float64) for a in (y, y_ref, model_ref))
    ref_norm = float(np.linalg.norm(y_ref))
    if ref_norm == 0 or not np.isfinite(ref_norm):
        return ["the reference data are all zero"]
    problems = []
    scale = float(np.linalg.norm(y)) / ref_norm
    if not 1 / MAX_SCALE <= scale <= MAX_SCALE:
        problems.append(f"their size is {scale:.3g} times the reference's (a tank's: within "
                        f"1/{MAX_SCALE:g}..{MAX_SCALE:g})")
    for name, data in (("data", y), ("reference", y_ref)):
        big = np.abs(model_ref) > 0.1 * np.abs(model_ref).max()
        agree = float(np.mean(np.sign(data[big]) == np.sign(model_ref[big])))
        if agree < MIN_SIGN_AGREEMENT:
            problems.append(f"the {name}' signs agree with the water tank's in {100 * agree:.0f}% of its "
                            f"large values (a tank's: at least {100 * MIN_SIGN_AGREEMENT:.0f}%)")
    return problems


def check_tank_data(path: Path, y: np.ndarray, y_ref: np.ndarray, model_ref: np.ndarray) -> None:
    """Raise :class:`DataFileError` (one line, naming ``path``) if the data fail a check."""
    problems = data_problems(y, y_ref, model_ref)
    if problems:
        raise DataFileError(f"{path}: not data a tank could produce: {'; '.join(problems)}")


def image_warnings(x: np.ndarray) -> list[str]:
    """Lines describing non-physical conductivities (S/m) in images x, empty if none."""
    x = np.asarray(x, dtype=np.float64)
    out = []
    if not np.isfinite(x).all():
        out.append(f"{int((~np.isfinite(x)).sum())} non-finite conductivities")
    finite = x[np.isfinite(x)]
    if (finite <= 0).any():
        out.append(f"{int((finite <= 0).sum())} conductivities <= 0 S/m (down to {finite.min():.3g})")
    if (finite > MAX_CONDUCTIVITY).any():
        out.append(f"{int((finite > MAX_CONDUCTIVITY).sum())} conductivities above {MAX_CONDUCTIVITY:g} S/m "
                   f"(up to {finite.max():.3g})")
    return out
