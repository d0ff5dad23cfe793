"""Calibrating a circular EIT tank from its reference (homogeneous) measurement.

``calibrate(voltages, currents, measurement, electrodes, radius)`` fits, to the voltages of
the tank filled with a homogeneous medium, the background conductivity (S/m), each electrode's
contact impedance (Ohm m^2), angular centre and angular width (radians), by Levenberg-Marquardt
on the exact Jacobian of :class:`~forward_models.eit.calibration_model.TankModel` (no finite
differences):

    Calibration = calibrate(voltages,      # (P, k) or (P k,), injection-major
                            currents,      # (P, L), each pattern summing to zero
                            measurement,   # (k, L) shared by every pattern, or (P, k, L)
                            electrodes,    # Electrodes: the nominal description (start, prior)
                            radius)        # m

It returns a :class:`Calibration`: the fitted ``conductivity`` and ``electrodes``
(an :class:`~forward_models.eit.electrodes.Electrodes`), ``residual_before`` (nominal
electrodes, the best homogeneous conductivity for them) and ``residual_after`` (relative
residuals ``||y_model - y|| / ||y||`` over the kept values), and the residual after every
accepted step (``history``, never increasing). Voltages and currents keep the file's units;
the conductivity is then in those units (2-D: per metre of depth).

Fitted vector ``theta = [log sigma, log z, c, log w]``; a weak Gaussian prior
``regularization^2 ||(theta - theta_0) / scales||^2`` (scales 1 for log z, 0.05 rad for centres,
0.2 for log widths) pins what the data cannot tell (a common rotation of all electrodes on the
round tank; z far below sigma times the mesh size). A step is accepted only if it lowers the
objective and does not raise the residual, keeps the contact impedances within ``z_bounds``,
the widths within a factor 2 of the nominal ones and the electrodes apart.

:func:`repeat_noise` estimates the noise per measurement channel from patterns a file
injects twice; a file without repeats gets None, not a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skfem import MeshTri

from forward_models.eit.calibration_model import TankModel, TankParameters
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.mesh import disk_mesh

PRIOR_SCALES = {"conductivity": np.inf, "contact_impedance": 1.0, "centers": 0.05, "widths": 0.2}
FITTED = ("conductivity", "contact_impedance", "centers", "widths")


@dataclass
class Calibration:
    """A fitted tank: ``conductivity`` (S/m), ``electrodes`` (fitted z, centres, widths),
    relative residuals before (nominal) and after, per accepted step (``history``), and the
    fitted model's voltages ``data`` (P k,)."""

    conductivity: float
    electrodes: Electrodes
    nominal: Electrodes
    radius: float
    residual_before: float
    residual_after: float
    history: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = False
    data: np.ndarray | None = None  # (P k,) the fitted model's voltages

    def summary(self) -> dict[str, float]:
        """Fitted conductivity, contact-impedance range, the largest centre shift and width
        change (both in mm along the wall) and the residuals."""
        shift = (self.electrodes.centers - self.nominal.centers + np.pi) % (2 * np.pi) - np.pi
        z = self.electrodes.contact_impedance
        return {"conductivity": self.conductivity, "z_min": float(z.min()), "z_max": float(z.max()),
                "max_shift_mm": float(1e3 * self.radius * np.abs(shift).max()),
                "max_width_change_mm": float(1e3 * self.radius
                                             * np.abs(self.electrodes.widths - self.nominal.widths).max()),
                "residual_before": self.residual_before, "residual_after": self.residual_after}


def _check_inputs(voltages, currents, measurement, electrodes: Electrodes, radius: float,
                  mask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    currents = np.asarray(currents, dtype=np.float64)
    measurement = np.asarray(measurement, dtype=np.float64)
    if currents.ndim != 2:
        raise ValueError(f"currents must be (P, L), got shape {currents.shape}")
    P, L = currents.shape
    if L != electrodes.L:
        raise ValueError(f"electrode count mismatch: the currents have {L} electrodes (columns), "
                         f"the electrode description {electrodes.L}")
    if measurement.shape[-1] != L:
        raise ValueError(f"electrode count mismatch: the measurement pattern has "
                         f"{measurement.shape[-1]} electrodes (columns), the currents {L}")
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be positive and finite, got {radius}")
    if not np.all(np.isfinite(currents)) or not np.all(np.isfinite(measurement)):
        raise ValueError("currents and measurement patterns must be finite (no NaN)")
    bad = np.abs(currents.sum(axis=1)) > 1e-6 * np.abs(currents).max(initial=1.0)
    if bad.any():
        raise ValueError(f"current pattern {int(np.argmax(bad))} does not sum to zero")
    k = measurement.shape[-2]
    y = np.asarray(voltages, dtype=np.float64).ravel()
    if y.size != P * k:
        raise ValueError(f"voltages have {y.size} values, the patterns give {P} injections x {k} "
                         f"measurements = {P * k}")
    keep = np.ones(y.size, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).ravel()
    if keep.size != y.size:
        raise ValueError(f"mask has {keep.size} values, voltages {y.size}")
    nan = ~np.isfinite(y) & keep
    if nan.any():
        raise ValueError(f"voltages hold {int(nan.sum())} NaN/inf values (first at index "
                         f"{int(np.argmax(nan))}); leave them out with mask=")
    if not np.any(y[keep] != 0):
        raise ValueError("voltages are all zero: nothing to calibrate against")
    return np.where(keep, y, 0.0), currents, measurement, keep


def _objective(y_model, y, keep, theta, theta0, prior) -> tuple[float, float]:
    """(relative residual, objective ``rho^2 + ||prior (theta - theta0)||^2``)."""
    rho = float(np.linalg.norm((y_model - y)[keep]) / np.linalg.norm(y[keep]))
    return rho, rho**2 + float(np.sum((prior * (theta - theta0)) ** 2))


def _physical(theta: np.ndarray, nominal: Electrodes, z_bounds: tuple[float, float]) -> bool:
    p = TankParameters.from_vector(theta)
    if np.any(p.contact_impedance < z_bounds[0]) or np.any(p.contact_impedance > z_bounds[1]):
        return False
    if np.any(p.widths > 2 * nominal.widths) or np.any(p.widths < nominal.widths / 2):
        return False
    try:
        p.electrodes()
    except ValueError:  # overlapping electrodes
        return False
    return True


def _step_basis(free: np.ndarray, centers: range) -> np.ndarray:
    """(n_free, n_steps) basis of the steps: the identity, except that the centres move only
    in the (L - 1) directions that keep their mean (a common rotation of a round tank's
    electrodes does not change its homogeneous data)."""
    is_center = np.isin(free, list(centers))
    if not is_center.any():
        return np.eye(free.size)
    n = int(is_center.sum())
    q, _ = np.linalg.qr(np.eye(n) - 1.0 / n)  # orthonormal columns; the last spans the mean
    T = np.zeros((free.size, free.size - 1))
    others = np.nonzero(~is_center)[0]
    T[others, np.arange(others.size)] = 1.0
    T[np.ix_(np.nonzero(is_center)[0], np.arange(others.size, free.size - 1))] = q[:, : n - 1]
    return T


def calibrate(voltages: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
              electrodes: Electrodes, radius: float, *, conductivity: float | None = None,
              mesh: MeshTri | None = None, mesh_size: float | None = None, edge_levels: int = 2,
              mask: np.ndarray | None = None, fit: tuple[str, ...] = FITTED,
              regularization: float = 1e-4, z_bounds: tuple[float, float] = (1e-9, 1.0),
              max_iter: int = 30, tol: float = 1e-6) -> Calibration:
    """Fit the tank's conductivity and electrodes to homogeneous-tank voltages (module doc).

    Args:
        voltages: (P, k) or (P k,) measured voltages, injection-major.
        currents: (P, L) injected currents; measurement: (k, L) or (P, k, L).
        electrodes: the nominal description (start of the fit and centre of the prior).
        radius: the tank's radius (m).
        conductivity: starting conductivity; default the best homogeneous one for the nominal
            electrodes (closed form: the data scale as 1 / sigma).
        mesh: a disk mesh of ``radius`` centred at the origin; default
            ``disk_mesh(electrodes, mesh_size, radius, edge_levels)``, ``mesh_size`` default
            ``radius / 25``.
        mask: (P k,) True for the values to fit (leaves out NaN ones).
        fit: which of ``conductivity``, ``contact_impedance``, ``centers``, ``widths`` to fit.
        regularization: weight of the prior relative to the relative residual.
        z_bounds: contact impedances stay within these (Ohm m^2).
        max_iter, tol: at most ``max_iter`` Jacobians; stop when a step lowers the objective
            by less than ``tol`` times itself.
    """
    y, currents, measurement, keep = _check_inputs(voltages, currents, measurement, electrodes, radius, mask)
    unknown = set(fit) - set(FITTED)
    if unknown:
        raise ValueError(f"unknown fit parameters {sorted(unknown)}; choose from {list(FITTED)}")
    if mesh is None:
        mesh = disk_mesh(electrodes, radius / 25 if mesh_size is None else mesh_size, radius, edge_levels)
    model = TankModel(mesh, radius, currents, measurement)
    L = electrodes.L
    if conductivity is None:
        y1, _ = model.simulate(TankParameters.from_electrodes(electrodes, 1.0))
        inner = float(y1[keep] @ y[keep])
        if inner <= 0:
            raise ValueError("voltages are not positively correlated with the model's; check the "
                             "patterns and the electrode order")
        conductivity = float(y1[keep] @ y1[keep]) / inner
    theta0 = TankParameters.from_electrodes(electrodes, conductivity).vector()
    groups = {"conductivity": [0], "contact_impedance": range(1, 1 + L),
              "centers": range(1 + L, 1 + 2 * L), "widths": range(1 + 2 * L, 1 + 3 * L)}
    free = np.array(sorted(i for name in fit for i in groups[name]), dtype=np.int64)
    prior = np.zeros(theta0.size)
    for name, idx in groups.items():
        prior[list(idx)] = regularization / PRIOR_SCALES[name]

    theta = theta0.copy()
    y_model, J = model.simulate(TankParameters.from_vector(theta), jacobian=True)
    rho, phi = _objective(y_model, y, keep, theta, theta0, prior)
    history, lam, converged, it = [rho], 1e-3, False, 0
    scale = 1.0 / np.linalg.norm(y[keep])
    T = _step_basis(free, groups["centers"])
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        Jf = J[keep][:, free] @ T * scale
        r = (y_model - y)[keep] * scale
        PT = prior[free][:, None] * T
        Hs = Jf.T @ Jf + PT.T @ PT
        g = Jf.T @ r + PT.T @ (prior * (theta - theta0))[free]
        accepted = False
        while lam < 1e12:
            step = np.linalg.solve(Hs + lam * np.diag(np.diag(Hs) + 1e-30), -g)
            trial = theta.copy()
            trial[free] += T @ step
            if _physical(trial, electrodes, z_bounds):
                y_trial, _ = model.simulate(TankParameters.from_vector(trial))
                rho_t, phi_t = _objective(y_trial, y, keep, trial, theta0, prior)
                if phi_t < phi and rho_t <= rho:
                    accepted = True
                    break
            lam *= 10
        if not accepted:
            converged = True  # no step lowers the objective: a (constrained) minimum
            break
        decrease = (phi - phi_t) / phi
        theta, rho, phi, lam = trial, rho_t, phi_t, max(lam / 10, 1e-9)
        history.append(rho)
        y_model, J = model.simulate(TankParameters.from_vector(theta), jacobian=True)
        if decrease < tol:
            converged = True
            break
    fitted = TankParameters.from_vector(theta)
    return Calibration(fitted.conductivity, fitted.electrodes(), electrodes, float(radius), history[0],
                       rho, history, it, converged, y_model)


@dataclass
class RepeatNoise:
    """Noise per measurement channel from repeated injections: ``pairs`` (first, repeat)
    pattern indices, ``channel_std`` (k,) standard deviations in the voltages' unit, pooled
    over the groups of repeats (``dof`` degrees of freedom per channel), ``relative`` = their
    RMS over the RMS of the repeated patterns' voltages."""

    pairs: list[tuple[int, int]]
    channel_std: np.ndarray
    dof: int
    relative: float


def repeated_patterns(currents: np.ndarray, rtol: float = 1e-6, reversed_sign: bool = False
                      ) -> list[tuple[int, int, float]]:
    """Pairs (i, j, scale) of patterns with ``I_j = scale I_i``, j > i, scale > 0 (or < 0 with
    ``reversed_sign``: the same electrodes driven the other way), up to ``rtol`` of the
    patterns' norms."""
    I = np.asarray(currents, dtype=np.float64)
    norms = np.linalg.norm(I, axis=1)
    unit = I / np.where(norms > 0, norms, 1.0)[:, None]
    sign = -1.0 if reversed_sign else 1.0
    out = []
    for j in np.nonzero(norms > 0)[0]:
        match = np.nonzero((norms[:j] > 0) & (np.linalg.norm(unit[:j] - sign * unit[j], axis=1) <= rtol))[0]
        if match.size:
            i = int(match[0])
            out.append((i, int(j), float(sign * norms[j] / norms[i])))
    return out


def repeat_noise(voltages: np.ndarray, currents: np.ndarray, n_channels: int,
                 rtol: float = 1e-6) -> RepeatNoise | None:
    """Per-channel noise from patterns injected more than once (same electrodes and signs;
    amplitudes may differ: each repeat is divided by its amplitude relative to the first).
    Within each group of g repeats the sample variance has g - 1 degrees of freedom; the
    variances are pooled over the groups. ``voltages``: (P, k) or (P k,) with
    ``k = n_channels``. None when no pattern repeats."""
    y = np.asarray(voltages, dtype=np.float64).reshape(-1, n_channels)
    pairs = repeated_patterns(currents, rtol)
    if not pairs:
        return None
    groups: dict[int, list[tuple[int, float]]] = {}
    for i, j, s in pairs:
        groups.setdefault(i, [(i, 1.0)]).append((j, s))
    sq, dof = np.zeros(n_channels), 0
    for members in groups.values():
        v = np.stack([y[j] / s for j, s in members])  # (g, k)
        sq += np.sum((v - v.mean(axis=0)) ** 2, axis=0)
        dof += len(members) - 1
    std = np.sqrt(sq / dof)
    signal = np.sqrt(np.mean(y[sorted({j for g in groups.values() for j, _ in g})] ** 2))
    return RepeatNoise([(i, j) for i, j, _ in pairs], std, dof, float(np.sqrt(np.mean(std**2)) / signal))
