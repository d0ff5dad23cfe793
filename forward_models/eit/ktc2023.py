"""The KTC2023 water tank as a CEM model: 32 equally spaced electrodes on a disk of radius
0.115 m (the tank is about 23 cm across), contact impedance 1e-6 (as in the organisers' code),
the injection and measurement patterns read from the measurement files.

Electrode 1 is centred at 90 degrees (the top of the organisers' images) and the electrodes
are numbered counter-clockwise, covering half of the boundary (width ~1.1 cm), as in the
organisers' mesh (the data fit of difference imaging does not see a rotation of the
electrodes, the image does).

:class:`KTC2023Tank` is the tank as a device model (entry point ``ktc2023`` of the group
``invtools.devices``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
from invtools.support.deprecation import renamed_keyword

KTC_RADIUS = 0.115  # m
KTC_ELECTRODES = 32
KTC_CONTACT_IMPEDANCE = 1e-6
KTC_FIRST_ELECTRODE = np.pi / 2  # rad: electrode 1 at the top, numbering counter-clockwise
KTC_NOMINAL_CURRENT = 1.47  # the mean injected current in the files (their unit, presumably mA)
KTC_ACCURATE_MESH = (0.005, 4)  # (m, edge levels): sigma0 within 1% of the converged fit
KTC_IMAGE_PIXELS = 32  # the unknowns of the tank's image model: 32 x 32 pixels of 7.2 mm
KTC_IMAGE_MESH = 0.01  # m, the physics mesh under those pixels


def ktc_injection_pairs(L: int = KTC_ELECTRODES) -> list[tuple[int, int]]:
    """The organisers' 76 injections as (source, sink) electrode indices (0-based): skip-one
    pairs between even electrodes, then every even electrode against sinks 0, L/4, L/2, 3L/4."""
    even = range(0, L, 2)
    pairs = [(e, (e + 2) % L) for e in even]
    for sink in range(0, L, L // 4):
        pairs += [(e, sink) for e in even if e != sink]
    return pairs


def ktc_patterns(current: float = KTC_NOMINAL_CURRENT,
                 L: int = KTC_ELECTRODES) -> tuple[np.ndarray, np.ndarray]:
    """Currents (76, L) and the measurement matrix (L - 1, L) of adjacent differences
    ``U_k - U_{k+1}``: the organisers' patterns, with one nominal current amplitude."""
    pairs = ktc_injection_pairs(L)
    currents = np.zeros((len(pairs), L))
    for p, (source, sink) in enumerate(pairs):
        currents[p, source], currents[p, sink] = current, -current
    measurement = np.eye(L - 1, L) - np.eye(L - 1, L, k=1)
    return currents, measurement


def ktc_operator(currents: np.ndarray, measurement: np.ndarray, mesh_size: float | None = None,
                 coverage: float = 0.5, contact_impedance: float = KTC_CONTACT_IMPEDANCE,
                 radius: float = KTC_RADIUS, *, edge_levels: int = 0,
                 h: float | None = None) -> CEMForward:
    """CEM operator of the tank for currents (P, L) and one measurement matrix (k, L) used
    with every injection (m = P k outputs, injection-major as in ``Uel``); ``mesh_size`` in
    metres (default 0.0075; ``h`` is its deprecated former name); ``edge_levels`` rounds of
    refinement at the electrode edges, where the contact-impedance boundary layer is."""
    h = renamed_keyword(mesh_size, h, "h", "mesh_size")
    h = 0.0075 if h is None else h
    L = currents.shape[1]
    if measurement.shape[1] != L:
        raise ValueError(f"measurement pattern has {measurement.shape[1]} electrodes, currents {L}")
    electrodes = Electrodes.equally_spaced(L, coverage, contact_impedance, offset=KTC_FIRST_ELECTRODE)
    return CEMForward.on_disk(electrodes, h, radius, currents, np.asarray(measurement, dtype=np.float64),
                              edge_levels=edge_levels)


def ktc_image_operator(currents: np.ndarray, measurement: np.ndarray, pixels: int = KTC_IMAGE_PIXELS,
                       mesh_size: float = KTC_IMAGE_MESH, **kwargs):
    """The tank on an N x N pixel image over [-R, R]^2 (a
    :class:`~forward_models.eit.pixel_grid.PixelCEMForward` over :func:`ktc_operator`): input
    (B, N, N) conductivities in S/m, row index growing with y (flip the rows for the organisers'
    frame, row 0 at the top); output as ``ktc_operator``."""
    from forward_models.eit.pixel_grid import PixelCEMForward

    return PixelCEMForward(ktc_operator(currents, measurement, mesh_size=mesh_size, **kwargs), pixels,
                           KTC_RADIUS)


def accurate_fit(u_ref: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
                 mask: np.ndarray | None = None, **kwargs) -> tuple[float, float]:
    """(sigma0, misfit): :func:`homogeneous_fit` on the tank's accurate mesh
    (:data:`KTC_ACCURATE_MESH`, 32k elements, about 0.5 s), whose fit moves < 1% under refinement."""
    h, levels = KTC_ACCURATE_MESH
    return homogeneous_fit(ktc_operator(currents, measurement, mesh_size=h, edge_levels=levels, **kwargs),
                           u_ref, mask)


def accurate_sigma0(u_ref: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
                    mask: np.ndarray | None = None, **kwargs) -> float:
    """The water's conductivity (S/m) fitted on the accurate mesh (:func:`accurate_fit`)."""
    return accurate_fit(u_ref, currents, measurement, mask, **kwargs)[0]


def fit_contact_impedance(u_ref: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
                          bounds: tuple[float, float] = (1e-8, 1e-1), mask: np.ndarray | None = None
                          ) -> tuple[float, float, float]:
    """One contact impedance z (Ohm m^2, all electrodes) and the water's sigma0 (S/m) fitted to
    the reference data by least squares on the accurate mesh: sigma0 in closed form for each z
    (:func:`best_homogeneous`), z by a bounded search over log10 z. Returns (z, sigma0, relative
    misfit); z at the lower bound means the data cannot tell z from smaller ones."""
    import torch
    from scipy.optimize import minimize_scalar

    h, levels = KTC_ACCURATE_MESH
    keep = np.ones(u_ref.size, dtype=bool) if mask is None else mask

    def misfit(log_z: float) -> tuple[float, float]:
        op = ktc_operator(currents, measurement, mesh_size=h, edge_levels=levels, contact_impedance=10**log_z)
        sigma0 = best_homogeneous(op, u_ref, mask)
        with torch.no_grad():
            u = op(torch.full((1, op.n_in), sigma0, dtype=torch.float64))[0].numpy()
        return float(np.linalg.norm((u - u_ref)[keep]) / np.linalg.norm(u_ref[keep])), sigma0

    lo, hi = np.log10(bounds)
    best = minimize_scalar(lambda t: misfit(t)[0], bounds=(lo, hi), method="bounded",
                           options={"xatol": 0.05})
    r, sigma0 = misfit(best.x)
    return float(10**best.x), sigma0, r


def repeated_injections(L: int = KTC_ELECTRODES) -> list[tuple[int, int]]:
    """Index pairs (first, repeat) of injections that the organisers' patterns drive twice."""
    first: dict[tuple[int, int], int] = {}
    repeats = []
    for k, pair in enumerate(ktc_injection_pairs(L)):
        if pair in first:
            repeats.append((first[pair], k))
        else:
            first[pair] = k
    return repeats


def noise_from_repeats(u: np.ndarray, n_measurements: int = KTC_ELECTRODES - 1) -> tuple[float, float]:
    """Noise model ``std_i = sqrt((a |u_i|)^2 + b^2)`` fitted (least squares on the squared
    differences, a, b >= 0) to the injections measured twice in one or more data vectors
    ``u`` (..., 76 * 31): returns (a, b), b in the data's unit."""
    rows = np.asarray(u, dtype=np.float64).reshape(-1, len(ktc_injection_pairs()), n_measurements)
    repeats = repeated_injections()
    diff = np.concatenate([(r[i] - r[j]) for r in rows for i, j in repeats])
    mean = np.concatenate([(r[i] + r[j]) / 2 for r in rows for i, j in repeats])
    from scipy.optimize import nnls

    coef, _ = nnls(np.stack([mean**2, np.ones_like(mean)], axis=1), diff**2 / 2)
    return float(np.sqrt(coef[0])), float(np.sqrt(coef[1]))


def homogeneous_fit(op: CEMForward, u_ref: np.ndarray, mask: np.ndarray | None = None
                    ) -> tuple[float, float]:
    """The constant conductivity sigma0 (S/m) whose simulated data best fit ``u_ref`` (least
    squares; data scale as 1/sigma, so sigma0 = <U1, U1> / <U1, u_ref> with U1 the data at
    sigma = 1) and its relative misfit ``||U1 / sigma0 - u_ref|| / ||u_ref||`` (kept values)."""
    import torch

    with torch.no_grad():
        u1 = op(torch.ones(1, op.n_in, dtype=torch.float64))[0].numpy()
    keep = np.ones_like(u1, dtype=bool) if mask is None else mask
    inner = float(u1[keep] @ u_ref[keep])
    if inner <= 0:
        raise ValueError("reference data are not positively correlated with the model's; "
                         "check the injection/measurement patterns and electrode order")
    sigma0 = float(u1[keep] @ u1[keep]) / inner
    misfit = float(np.linalg.norm((u1 / sigma0 - u_ref)[keep]) / np.linalg.norm(u_ref[keep]))
    return sigma0, misfit


def best_homogeneous(op: CEMForward, u_ref: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The constant conductivity (S/m) whose simulated data best fit ``u_ref``
    (:func:`homogeneous_fit`)."""
    return homogeneous_fit(op, u_ref, mask)[0]


@dataclass(frozen=True)
class TankCalibration:
    """The water fitted to the reference data: ``sigma0`` (S/m), ``contact_impedance`` (Ohm m^2,
    the organisers' fixed value) and ``misfit`` (relative, kept values)."""

    sigma0: float
    contact_impedance: float
    misfit: float


class KTC2023Tank:
    """The tank's physics as a device model (entry point ``ktc2023`` of the group
    ``invtools.devices``; :class:`invtools.devices.model.DeviceModel`), built from its checked
    description ``desc``: :meth:`image_operator` is :func:`ktc_image_operator`, :meth:`calibrate`
    the homogeneous fit on :data:`KTC_ACCURATE_MESH`. For the tank's adapter also:
    ``nominal_current`` (the files' mean current amplitude, :data:`KTC_NOMINAL_CURRENT`) and
    :meth:`nominal_patterns`, the organisers' patterns at that current."""

    nominal_current: float = KTC_NOMINAL_CURRENT

    def __init__(self, desc: Any = None):
        self.desc = desc

    def image_operator(self, currents: np.ndarray, measurement: np.ndarray, z: float = KTC_CONTACT_IMPEDANCE,
                       mesh_size: float | None = None, edge_levels: int = 0):
        """The tank on 32 x 32 pixels (:func:`ktc_image_operator`) with contact impedance z
        (Ohm m^2) over a mesh of ``mesh_size`` (m, default :data:`KTC_IMAGE_MESH`)."""
        return ktc_image_operator(currents, measurement, mesh_size=mesh_size or KTC_IMAGE_MESH,
                                  edge_levels=edge_levels, contact_impedance=z)

    def calibrate(self, u_ref: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
                  mask: np.ndarray | None = None) -> TankCalibration:
        """The water's sigma0 and misfit (:func:`accurate_fit`) at the organisers' contact impedance."""
        sigma0, misfit = accurate_fit(u_ref, currents, measurement, mask)
        return TankCalibration(sigma0, KTC_CONTACT_IMPEDANCE, misfit)

    def nominal_patterns(self, L: int = KTC_ELECTRODES) -> tuple[np.ndarray, np.ndarray]:
        """The organisers' currents (76, L) at ``nominal_current`` and measurements (L - 1, L)
        (:func:`ktc_patterns`)."""
        return ktc_patterns(self.nominal_current, L)
