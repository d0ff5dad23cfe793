"""The ``cem2d`` device model: the 2-D complete electrode model of a device described by a TOML
file (:mod:`invtools.devices`), registered in the entry-point group ``invtools.devices``.

From the description: the domain (a disk of ``radius``, or an outline file meshed by gmsh), the
electrodes (count, arc width in metres, first electrode's angle, numbering direction, contact
impedance), the image grid; from the files: the current and measurement patterns. Calibration
fits the background conductivity (closed form) and, where the description says ``"fit"``, one
contact impedance for all electrodes (a bounded search over log10 z) to the reference data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from forward_models.eit.electrodes import TWO_PI, Electrodes
from forward_models.eit.forward import CEMForward
from forward_models.eit.mesh import disk_mesh, electrode_facets

Z_BOUNDS = (1e-8, 1e-1)  # Ohm m^2: the contact impedances the fit searches


@dataclass(frozen=True)
class Calibration:
    """The fit to the reference data: background conductivity ``sigma0`` (S/m, for currents
    and voltages in the description's units), ``contact_impedance`` (Ohm m^2), and ``misfit``,
    ``||A(sigma0) - u_ref|| / ||u_ref||`` over the kept values."""

    sigma0: float
    contact_impedance: float
    misfit: float
    electrodes: Electrodes | None = None  # fitted electrodes (method "full"), else None


_CALIBRATIONS: dict[str, Calibration] = {}  # one per (description, reference data, mask)


class DescribedCEM:
    """The CEM of a described 2-D device (``desc``: an :class:`invtools.devices.DeviceDescription`)."""

    def __init__(self, desc: Any):
        self.desc = desc
        self._meshes: dict[tuple, tuple[Any, list[np.ndarray]]] = {}
        self.fitted: Electrodes | None = None  # set by a "full" calibration: used from then on

    def electrodes(self, z: float) -> Electrodes:
        """The electrodes with contact impedance z: on a circle, centre angles from the
        description's first angle in its numbering direction; on an outline, arc-length
        positions (angles are arc fractions times 2 pi) from the boundary point in the
        direction of the first angle as seen from the outline's centroid. After a ``"full"``
        calibration: the fitted electrodes (z ignored)."""
        if self.fitted is not None:
            return self.fitted
        e = self.desc["electrodes"]
        L, sign = e["count"], (1.0 if e["direction"] == "counterclockwise" else -1.0)
        steps = sign * TWO_PI * np.arange(L) / L
        if self.desc["domain"]["shape"] == "circle":
            radius = self.desc["domain"]["radius"]
            return Electrodes(np.deg2rad(e["first_angle"]) + steps, e["width"] / radius, z)
        from forward_models.eit.boundary import arc_positions

        outline = self.outline()
        s, length = arc_positions(outline.T)
        centre = outline.mean(axis=0)
        angles = np.arctan2(outline[:, 1] - centre[1], outline[:, 0] - centre[0])
        gap = np.angle(np.exp(1j * (angles - np.deg2rad(e["first_angle"]))))
        start = TWO_PI * s[int(np.argmin(np.abs(gap)))] / length
        return Electrodes(start + steps, TWO_PI * e["width"] / length, z)

    def outline(self) -> np.ndarray:
        """The outline (n, 2) in metres, counter-clockwise (outline domains)."""
        from forward_models.eit.outline import read_outline

        return read_outline(self.desc.resolve(self.desc["domain"]["outline"]))

    def operator(self, currents: np.ndarray, measurement: np.ndarray, z: float, mesh_size: float,
                 edge_levels: int = 0) -> CEMForward:
        """The CEM (element conductivities in S/m -> P k voltages, injection-major) for currents
        (P, L), one measurement matrix (k, L) and contact impedance z (Ohm m^2); the mesh is
        made once per (mesh_size, edge_levels) and shared by every z."""
        el = self.electrodes(z)
        key = (float(mesh_size), int(edge_levels), el.centers.tobytes(), el.widths.tobytes())
        if self.desc["domain"]["shape"] == "outline":
            from forward_models.eit.domains import on_outline

            return on_outline(self.outline(), el, mesh_size, currents,
                              np.asarray(measurement, dtype=np.float64), edge_levels=edge_levels)
        if key not in self._meshes:
            mesh = disk_mesh(el, mesh_size, self.desc["domain"]["radius"], edge_levels)
            self._meshes[key] = (mesh, electrode_facets(mesh, el))
        mesh, facets = self._meshes[key]
        z = el.contact_impedance if self.fitted is not None else z
        return CEMForward(mesh, facets, z, currents, np.asarray(measurement, dtype=np.float64))

    def image_operator(self, currents: np.ndarray, measurement: np.ndarray, z: float,
                       mesh_size: float | None = None, edge_levels: int = 0):
        """The device on the description's N x N pixel image over [-extent, extent]^2 (row index
        growing with y): input (B, N, N) conductivities in S/m, output as :meth:`operator`."""
        from forward_models.eit.pixel_grid import PixelCEMForward

        img = self.desc["image"]
        cem = self.operator(currents, measurement, z, mesh_size or img["mesh_size"], edge_levels)
        return PixelCEMForward(cem, img["pixels"], self.desc.extent)

    def calibrate(self, u_ref: np.ndarray, currents: np.ndarray, measurement: np.ndarray,
                  mask: np.ndarray | None = None) -> Calibration:
        """Background conductivity and contact impedance fitted to the reference data u_ref
        (P k,) on the description's ``[calibration]`` mesh: sigma0 in closed form
        (:func:`~forward_models.eit.ktc2023.best_homogeneous`); a fixed impedance is kept, ``"fit"``
        searches log10 z over :data:`Z_BOUNDS`; ``method = "full"`` also fits each electrode.
        Cached per description, data and mask."""
        self.fitted = None
        key = hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in
                                      (u_ref, currents, measurement,
                                       np.ones(0) if mask is None else mask.astype(np.float64)))
                             + repr(self.desc.tables).encode()).hexdigest()
        if key not in _CALIBRATIONS:
            full = self.desc["calibration"]["method"] == "full"
            fit = self._full_calibration if full else self._fit
            _CALIBRATIONS[key] = fit(u_ref, currents, measurement, mask)
        self.fitted = _CALIBRATIONS[key].electrodes
        return _CALIBRATIONS[key]

    def _fit(self, u_ref, currents, measurement, mask) -> Calibration:
        """The CEM scales as U(sigma, z) = U(1, sigma z) / sigma: for each product zeta = sigma z
        the best sigma is closed-form (:func:`~forward_models.eit.ktc2023.best_homogeneous` of
        U(1, zeta)); ``"fit"`` searches log zeta, a given z fixes zeta = sigma z by iteration."""
        from scipy.optimize import minimize_scalar

        cal, z_given = self.desc["calibration"], self.desc["electrodes"]["contact_impedance"]
        keep = np.ones(u_ref.size, dtype=bool) if mask is None else mask

        def fit(log_zeta: float) -> tuple[float, float]:
            op = self.operator(currents, measurement, 10**log_zeta, cal["mesh_size"], cal["edge_levels"])
            with torch.no_grad():
                u1 = op(torch.ones(1, op.n_in, dtype=torch.float64))[0].numpy()
            inner = float(u1[keep] @ u_ref[keep])
            if inner <= 0:
                raise ValueError("the reference data are not positively correlated with the model's; "
                                 "check the description's patterns, layout and electrode order")
            sigma0 = float(u1[keep] @ u1[keep]) / inner
            return float(np.linalg.norm((u1 / sigma0 - u_ref)[keep]) / np.linalg.norm(u_ref[keep])), sigma0

        sigma0 = fit(np.log10(Z_BOUNDS[0]))[1]
        if z_given == "fit":
            lo, hi = np.log10(Z_BOUNDS) + np.log10(sigma0)
            best = minimize_scalar(lambda t: fit(t)[0], bounds=(lo, hi), method="bounded",
                                   options={"xatol": 0.02})
            misfit, sigma0 = fit(float(best.x))
            return Calibration(sigma0, float(10**best.x / sigma0), misfit)
        for _ in range(50):  # sigma = S(sigma z): a contraction unless z / sigma dwarfs the electrodes
            misfit, new = fit(np.log10(sigma0 * z_given))
            done = abs(new - sigma0) <= 1e-6 * sigma0
            sigma0 = new
            if done:
                break
        return Calibration(sigma0, float(z_given), misfit)

    def _full_calibration(self, u_ref, currents, measurement, mask) -> Calibration:
        """``method = "full"`` (disk domains): conductivity and each electrode's contact impedance,
        centre and width fitted together by :func:`forward_models.eit.calibration.calibrate`,
        started from the homogeneous fit; the image models use the fitted electrodes."""
        try:
            from forward_models.eit.calibration import calibrate
        except ImportError:
            raise ValueError(f"{self.desc.source or self.desc.name}: [calibration] method = \"full\" needs "
                             "forward_models.eit.calibration, which this installation lacks; use "
                             "\"homogeneous\"") from None
        if self.desc["domain"]["shape"] != "circle":
            raise ValueError(f"{self.desc.source or self.desc.name}: [calibration] method = \"full\" is "
                             "for circular domains")
        start = self._fit(u_ref, currents, measurement, mask)
        c = self.desc["calibration"]
        fitted = calibrate(u_ref, currents, measurement, self.electrodes(start.contact_impedance),
                           self.desc["domain"]["radius"], conductivity=start.sigma0,
                           mesh_size=c["mesh_size"], edge_levels=c["edge_levels"], mask=mask)
        return Calibration(fitted.conductivity, float(np.median(fitted.electrodes.contact_impedance)),
                           fitted.residual_after, fitted.electrodes)
