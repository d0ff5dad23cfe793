"""The KTC2023 water tank as a CEM model: 32 equally spaced electrodes on a disk of radius
0.115 m (the tank is about 23 cm across), contact impedance 1e-6 (as in the organisers' code),
the injection and measurement patterns read from the measurement files.

Electrode 1 is centred at 90 degrees (the top of the organisers' images) and the electrodes
are numbered counter-clockwise, covering half of the boundary (width ~1.1 cm), as in the
organisers' mesh. (Before 2026-11-25 electrode 1 sat at 0 degrees, which rotated every tank
image by 90 degrees: the data fit of difference imaging does not see the rotation, the image
does.)
"""

from __future__ import annotations

import numpy as np

from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
from invtools.deprecation import renamed_keyword

KTC_RADIUS = 0.115  # m
KTC_ELECTRODES = 32
KTC_CONTACT_IMPEDANCE = 1e-6
KTC_FIRST_ELECTRODE = np.pi / 2  # rad: electrode 1 at the top, numbering counter-clockwise
KTC_NOMINAL_CURRENT = 1.47  # the mean injected current in the files (their unit, presumably mA)


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


def best_homogeneous(op: CEMForward, u_ref: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The constant conductivity whose simulated data best fit ``u_ref`` (least squares):
    data scale as 1/sigma, so sigma0 = <U1, U1> / <U1, u_ref> with U1 the data at sigma = 1."""
    import torch

    u1 = op(torch.ones(1, op.n_in, dtype=torch.float64))[0].numpy()
    keep = np.ones_like(u1, dtype=bool) if mask is None else mask
    inner = float(u1[keep] @ u_ref[keep])
    if inner <= 0:
        raise ValueError("reference data are not positively correlated with the model's; "
                         "check the injection/measurement patterns and electrode order")
    return float(u1[keep] @ u1[keep]) / inner
